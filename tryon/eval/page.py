"""The self-contained report page: inline CSS, images as base64 data URIs, no script, no network."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from tryon.eval import difficulty
from tryon.eval.baseline import DESCRIPTION as BASELINE_DESCRIPTION
from tryon.eval.evaluator import BASELINE
from tryon.eval.metrics import metric_direction, metric_spec
from tryon.eval.metrics.features import MIN_IMAGES
from tryon.eval.metrics.pixels import PSNR_CAP_DB
from tryon.eval.regions import describe_region

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .3em .7em; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #8a5300; font-style: italic; }
td.what { color: #444; font-size: .9em; max-width: 34em; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
"""


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if math.isfinite(value) else "not finite"


def _arrow(name: str) -> str:
    return "↑" if metric_direction(name) else "↓"


def describe(key: str, *, keep_photo: bool) -> str:
    """What a metrics key compares and over which region, in words."""
    spec = metric_spec(key)
    if spec is None:
        return ""
    rest = key.removeprefix(spec.name).strip("/")
    if rest in spec.parts:
        region = describe_region(rest, unpaired=key.startswith("unpaired/"), keep_photo=keep_photo)
        return f"{spec.description}, {region}"
    return f"{spec.description}, class {rest}" if rest else spec.description


def _note(notes: Mapping[str, str], key: str) -> str | None:
    spec = metric_spec(key)
    return notes.get(key) or (spec and notes.get(spec.name))


def _image(path: Path, caption: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: float | None) -> str:
    return f'<td class="num">{_number(value)}</td>'


def _metrics_table(
    metrics: Mapping[str, float], notes: Mapping[str, str], keys: Sequence[str], *, keep_photo: bool
) -> str:
    """One row per key: the key, what it compares, the model's and the baseline's value; a note in
    place of both values where the model has none."""
    rows = []
    for key in keys:
        label = f'<td>{escape(key)} {_arrow(key)}</td><td class="what">{escape(describe(key, keep_photo=keep_photo))}</td>'
        note = _note(notes, key)
        if key not in metrics and note:
            rows.append([label, f'<td class="note" colspan="2">{escape(note)}</td>'])
        elif key in metrics or BASELINE + key in metrics:
            rows.append([label, _cell(metrics.get(key)), _cell(metrics.get(BASELINE + key))])
    return _table(["metric", "what it compares", "model", "naive baseline"], rows)


def _by_level(metrics: Mapping[str, float], names: Sequence[str], header: Sequence[str]) -> str:
    rows = []
    for name in names:
        for system, prefix in (("model", ""), ("naive baseline", BASELINE)):
            values = [metrics.get(f"{prefix}{name}/{level}") for level in difficulty.LEVELS]
            overall = metrics.get(prefix + name)
            if overall is None and all(value is None for value in values):
                continue
            label = f"<td>{escape(name)} {_arrow(name)}</td><td>{system}</td>"
            rows.append([label, *map(_cell, values), _cell(overall)])
    return _table(["metric", "system", *header], rows)


def _class_ious(metrics: Mapping[str, float], header: Sequence[str]) -> str:
    prefix = "layout/iou/"
    classes = [key.removeprefix(prefix) for key in metrics if key.startswith(prefix) and key.count("/") == 2]
    rows = [
        [
            f"<td>{escape(name)}</td>",
            *(_cell(metrics.get(f"{prefix}{name}/{level}")) for level in difficulty.LEVELS),
            _cell(metrics.get(prefix + name)),
        ]
        for name in classes
    ]
    return _table(["class", *header], rows)


def _definitions() -> str:
    items = [
        (
            "Images are compared on [0, 1] intensities. SSIM is torchmetrics' (Gaussian window 11, sigma 1.5): "
            "its map is averaged over the region's pixels, each of which sees its 11 x 11 window; PSNR is the "
            f"mean of per-image values from the region's mean squared error, capped at {PSNR_CAP_DB:g} dB for "
            "identical images; L1 is the mean absolute error over the region."
        ),
        (
            "Regions: full is the whole frame; changed is the old garment and the arms of the parsing map "
            "(for unpaired try-ons also every pixel where the ground truth differs from the photo), grown by "
            "the model's arm-hole dilation. It comes from ground truth only and is the same for the model and "
            "the naive baseline."
        ),
        (
            "Paired try-ons put the person's own garment on, so the photo is their ground truth; unpaired "
            "ones put another garment on and are compared with the synthetic ground truth of the person "
            "wearing it."
        ),
        (
            "Layout: G1's own prediction (before composition, nothing copied from the input) against what "
            "G1 is trained to predict, the parsing map with the person's garment as background; IoU sums "
            "intersections and unions over the samples, per class; mIoU averages G1's classes present in "
            "the target or the prediction; arms counts both arms as one class. upper_clothes is G2's "
            "worn-garment mask against the parsing map's upper clothes. Warp IoU is the mean per-garment IoU "
            "of the warped garment's mask (warped onto G2's predicted region, as the try-on does) and the "
            "worn garment's region."
        ),
        (
            "FID and KID compare the unpaired try-ons with the unpaired ground-truth images (or, without "
            f"them, the photos of other test persons), never with the try-ons' own inputs; below {MIN_IMAGES} "
            "images no value is given."
        ),
        (
            "Difficulty (from the pose): the torso is the shoulders-to-hips polygon; a forearm's share is the "
            f"fraction of {difficulty.FOREARM_POINTS} points from elbow to wrist inside it. Hard: a forearm "
            f"at least {difficulty.HARD_INSIDE:.0%} inside, both wrists inside, or no shoulders found. "
            f"Medium: a forearm at least {difficulty.MEDIUM_INSIDE:.0%} inside or one wrist inside. "
            "Easy: otherwise."
        ),
        BASELINE_DESCRIPTION,
        (
            "Every per-sample value is in samples.csv beside this page (one row per sample, with its name "
            "and difficulty); the tables here are its column means."
        ),
    ]
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def render_html(
    *,
    metrics: Mapping[str, float],
    notes: Mapping[str, str],
    headline: Sequence[str],
    full_frame: Sequence[str],
    figures: Sequence[tuple[Path, str]],
    grids: Sequence[tuple[Path, str]],
    details: Mapping[str, str],
    keep_photo: bool,
) -> str:
    """The report page; `headline` and `full_frame` are the metric keys of its two main tables,
    `figures` and `grids` (PNG path, caption) pairs embedded as data URIs, `details` labelled lines
    for the top (checkpoint, data); `keep_photo` is the model's setting, which the page explains."""
    counts = {level: int(metrics.get(f"count/{level}", 0)) for level in (*difficulty.LEVELS, "all")}
    header = [f"{level} (n={counts[level]})" for level in (*difficulty.LEVELS, "all")]
    summary = ", ".join(f"{level} {counts[level]}" for level in difficulty.LEVELS)
    kept = (
        "The model keeps the photo outside its repainted region (model.keep_photo), and so does the naive "
        "baseline outside the changed region: most whole-frame pixels are copies, which inflates these "
        "scores. Compare systems on the changed region above."
        if keep_photo
        else "The model renders the whole frame (model.keep_photo is off, as in ACGPN); the naive baseline "
        "keeps the photo outside the changed region."
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Try-on evaluation</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Try-on evaluation</h1>",
        *(f"<p><b>{escape(label)}</b>: {escape(value)}</p>" for label, value in details.items()),
        f"<p>{counts['all']} test samples ({summary}). ↑ higher is better, ↓ lower is better.</p>",
        "<h2>Headline metrics</h2>",
        _metrics_table(metrics, notes, headline, keep_photo=keep_photo),
        "<h2>Whole frame</h2>",
        f"<p>{escape(kept)}</p>",
        _metrics_table(metrics, notes, full_frame, keep_photo=keep_photo),
    ]
    shown = {
        name for key in (*headline, *full_frame) if (spec := metric_spec(key)) for name in (key, spec.name)
    }
    other_notes = {name: note for name, note in notes.items() if name not in shown}
    if other_notes:  # the tables show their own metrics' notes
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li><b>{escape(name)}</b>: {escape(note)}</li>" for name, note in other_notes.items()]
        parts.append("</ul>")
    parts += ["<h2>By difficulty</h2>", _by_level(metrics, [*headline, *full_frame], header)]
    if any(key.startswith("layout/iou/") for key in metrics):
        parts += [
            "<h2>Layout IoU per class</h2>",
            "<p>G1's classes against G1's target; upper_clothes is G2's mask.</p>",
            _class_ious(metrics, header),
        ]
    parts += ["<h2>Figures</h2>", *(_image(path, caption) for path, caption in figures)]
    if grids:
        parts += ["<h2>Cases</h2>", *(_image(path, caption) for path, caption in grids)]
    parts += ["<h2>Definitions</h2>", _definitions(), "</body></html>"]
    return "\n".join(parts)
