"""The metric registry (`@register_metric`, one metric per file) with every metric registered.

Importing this package registers them; the report orders them itself.
"""

from tryon.eval.metrics import (  # noqa: F401  (imported for their registrations)
    fid,
    kid,
    layout_garment_iou,
    layout_iou,
    paired_l1,
    paired_lpips,
    paired_psnr,
    paired_ssim,
    unpaired_l1,
    unpaired_psnr,
    unpaired_ssim,
    warp_iou,
)
from tryon.eval.metrics.registry import (
    MetricSpec,
    declare_unavailable,
    metric_direction,
    metric_spec,
    register_metric,
    registered_metrics,
)

__all__ = [
    "MetricSpec",
    "declare_unavailable",
    "metric_direction",
    "metric_spec",
    "register_metric",
    "registered_metrics",
]
