"""Synthetic try-on data: posed people wearing warped garments, with exact parsing and pose.

`generate_dataset` writes both phases of the ACGPN/VITON folder contract (tryon.data.layout) plus
the unpaired ground truth and a manifest. The modules underneath: `body` (pose and appearance),
`garment` (laydown garments in garment space), `warp` (thin-plate splines), `raster` (anti-aliased
shapes and the RGB/label canvas), `render` (the dressed person) and `generate` (files and workers).
"""

from tryon.data.synthetic.generate import GENERATOR_VERSION, MANIFEST_NAME, SynthSummary, generate_dataset

__all__ = ["GENERATOR_VERSION", "MANIFEST_NAME", "SynthSummary", "generate_dataset"]
