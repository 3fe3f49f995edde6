"""Training curves: the trainer's JSON-lines statistics as one CSV per stage, for `dvc plots`.

Each line of the statistics file is a JSON object with at least `stage` (str) and `step` (int);
every other numeric field becomes a column (nested objects flatten to `a/b`), non-numeric ones
are skipped. One wide CSV per stage, `curves/{stage}.csv` with columns `step, field, ...`, plots
directly with `dvc plots show curves/sgm.csv -x step`; a field a line lacks is left empty.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StageCurves:
    """The statistics of one training stage, in file order."""

    stage: str
    fields: tuple[str, ...]  # numeric fields in first-seen order, `step` excluded
    rows: tuple[dict[str, float], ...]  # each has `step` and some of `fields`

    @property
    def loss_fields(self) -> tuple[str, ...]:
        """The fields to plot as losses: those named `*loss*`, or every field when none is."""
        losses = tuple(field for field in self.fields if "loss" in field.lower())
        return losses or self.fields


def _numbers(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    values: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            values.update(_numbers(value, f"{name}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = float(value)
    return values


def read_training_stats(path: Path) -> tuple[StageCurves, ...]:
    """Parse a JSON-lines statistics file; raises ValueError naming the file and line of a bad record."""
    path = Path(path)
    stages: dict[str, list[dict[str, float]]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not JSON ({error})") from error
        # A malformed file is bad input, not a programming error: ValueError, as documented and as
        # the CLI reports it.
        if not isinstance(record, dict) or not isinstance(record.get("stage"), str):
            raise ValueError(f"{path}:{number}: expected an object with a string 'stage'")  # noqa: TRY004
        step = record.get("step")
        if not isinstance(step, int | float) or isinstance(step, bool):
            raise ValueError(f"{path}:{number}: expected a numeric 'step', got {step!r}")  # noqa: TRY004
        stage = record.pop("stage")
        stages.setdefault(stage, []).append(_numbers(record))
    curves = []
    for stage, rows in stages.items():
        fields = dict.fromkeys(name for row in rows for name in row if name != "step")
        curves.append(StageCurves(stage, tuple(fields), tuple(rows)))
    return tuple(curves)


def _format(value: float) -> str:
    """Integers (steps, counts) without an exponent; other values with 7 significant digits."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.7g}"


def write_curves_csv(curves: tuple[StageCurves, ...], out_dir: Path) -> tuple[Path, ...]:
    """Write `out_dir/{stage}.csv` per stage and return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for stage in curves:
        # Stage names come from the trainer; keep the file name portable.
        path = out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', stage.stage)}.csv"
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["step", *stage.fields], restval="")
            writer.writeheader()
            for row in stage.rows:
                writer.writerow({key: _format(value) for key, value in row.items()})
        paths.append(path)
    return tuple(paths)
