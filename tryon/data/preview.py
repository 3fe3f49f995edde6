"""A preview sheet of dataset samples: person, layout, pose, garment and garment mask side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tryon.data.layout import DatasetLayout, read_label, read_mask, read_pairs, read_pose, read_rgb, write_rgb
from tryon.visual import colorize_layout, contact_sheet, draw_pose

PREVIEW_COLUMNS = ("person", "layout", "pose", "garment", "garment mask")


def write_preview(layout: DatasetLayout, out: Path, *, samples: int = 4) -> Path:
    """Write a PNG contact sheet of the first `samples` pairs of a dataset phase and return its path."""
    pairs = read_pairs(layout)[:samples]
    if not pairs:
        raise ValueError(f"{layout.root}: the {layout.phase} phase has no pairs to preview")
    rows = []
    for pair in pairs:
        person = read_rgb(layout.person_image(pair.person))
        mask = read_mask(layout.garment_mask(pair.garment))
        rows.append(
            [
                person,
                colorize_layout(read_label(layout.label(pair.person))),
                draw_pose(person // 3 + 170, read_pose(layout.pose(pair.person))),
                read_rgb(layout.garment(pair.garment)),
                np.repeat(mask[..., None] * np.uint8(255), 3, axis=2),
            ]
        )
    out = Path(out)
    write_rgb(out, contact_sheet(rows, titles=PREVIEW_COLUMNS))
    return out
