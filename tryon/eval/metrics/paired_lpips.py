"""`paired/lpips`: declared so that the report says why it is missing and the gate knows its direction.

Both the `lpips` package and torchmetrics' LPIPS build their AlexNet/VGG backbone through
torchvision.models (downloading its ImageNet weights on first use); this project installs no
torchvision, and a project-owned LPIPS backbone is deliberately not part of it for now.
"""

from __future__ import annotations

from tryon.eval.metrics.registry import declare_unavailable

declare_unavailable(
    "paired/lpips",
    higher_is_better=False,
    description="paired LPIPS: try-on of the person's own garment vs. the photo, over the whole frame",
    reason="not available: LPIPS needs torchvision (the lpips package and torchmetrics both take "
    "their AlexNet/VGG backbone from torchvision.models), which this project does not install",
)
