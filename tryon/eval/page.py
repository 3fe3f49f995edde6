"""The self-contained report page: inline CSS, images as base64 data URIs, no script, no network."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from tryon.eval import difficulty
from tryon.eval.evaluator import BASELINE
from tryon.eval.metrics import metric_direction
from tryon.eval.metrics.paired_psnr import PSNR_CAP_DB

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .3em .7em; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #8a5300; font-style: italic; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
"""


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _arrow(name: str) -> str:
    return "↑" if metric_direction(name) else "↓"


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


def _headline(metrics: Mapping[str, float], notes: Mapping[str, str], names: Sequence[str]) -> str:
    rows = []
    for name in names:
        label = f"<td>{escape(name)} {_arrow(name)}</td>"
        if name in notes:
            rows.append([label, f'<td class="note" colspan="2">{escape(notes[name])}</td>'])
        else:
            rows.append([label, _cell(metrics.get(name)), _cell(metrics.get(BASELINE + name))])
    return _table(["metric", "model", "naive baseline"], rows)


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
        "Images are compared on [0, 1] intensities. SSIM is torchmetrics' (Gaussian window 11, sigma 1.5); "
        f"PSNR is the mean of per-image values, capped at {PSNR_CAP_DB:g} dB for identical images; "
        "L1 is the mean absolute error.",
        "Unpaired SSIM and L1 are averaged over the new garment's region only, against the synthetic "
        "ground truth. FID and KID compare the unpaired try-ons with the test photos.",
        "Layout IoU sums intersections and unions over the samples, per class; mIoU averages the "
        "classes present in the ground truth or the prediction. Warp IoU is the mean per-garment IoU of "
        "the warped garment's mask and the worn garment's region.",
        "Difficulty (from the pose): the torso is the shoulders-to-hips polygon; a forearm's share is the "
        f"fraction of {difficulty.FOREARM_POINTS} points from elbow to wrist inside it. Hard: a forearm "
        f"at least {difficulty.HARD_INSIDE:.0%} inside, both wrists inside, or no shoulders found. "
        f"Medium: a forearm at least {difficulty.MEDIUM_INSIDE:.0%} inside or one wrist inside. "
        "Easy: otherwise.",
        "Naive baseline: the garment's bounding box resized onto the worn garment's bounding box and "
        "pasted through the worn garment's mask, without warping; it predicts no layout.",
    ]
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def render_html(
    *,
    metrics: Mapping[str, float],
    notes: Mapping[str, str],
    headline: Sequence[str],
    figures: Sequence[tuple[Path, str]],
    grids: Sequence[tuple[Path, str]],
    details: Mapping[str, str],
) -> str:
    """The report page; `figures` and `grids` are (PNG path, caption) pairs embedded as data URIs,
    `details` labelled lines for the top (checkpoint, data)."""
    counts = {level: int(metrics.get(f"count/{level}", 0)) for level in (*difficulty.LEVELS, "all")}
    header = [f"{level} (n={counts[level]})" for level in (*difficulty.LEVELS, "all")]
    summary = ", ".join(f"{level} {counts[level]}" for level in difficulty.LEVELS)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Try-on evaluation</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Try-on evaluation</h1>",
        *(f"<p><b>{escape(label)}</b>: {escape(value)}</p>" for label, value in details.items()),
        f"<p>{counts['all']} test samples ({summary}). ↑ higher is better, ↓ lower is better.</p>",
        "<h2>Headline metrics</h2>",
        _headline(metrics, notes, headline),
    ]
    other_notes = {name: note for name, note in notes.items() if name not in headline}
    if other_notes:  # the headline table shows its own metrics' notes
        parts.append("<h2>Also not computed</h2><ul>")
        parts += [f"<li><b>{escape(name)}</b>: {escape(note)}</li>" for name, note in other_notes.items()]
        parts.append("</ul>")
    parts += ["<h2>By difficulty</h2>", _by_level(metrics, headline, header)]
    if any(key.startswith("layout/iou/") for key in metrics):
        parts += ["<h2>Layout IoU per class</h2>", _class_ious(metrics, header)]
    parts += ["<h2>Figures</h2>", *(_image(path, caption) for path, caption in figures)]
    if grids:
        parts += ["<h2>Cases</h2>", *(_image(path, caption) for path, caption in grids)]
    parts += ["<h2>Definitions</h2>", _definitions(), "</body></html>"]
    return "\n".join(parts)
