"""Which pairs of a split are paired (the person wears that garment) and which are unpaired.

Paired metrics judge a try-on against the photo, which is only its ground truth when the garment
is the one the person wears. VITON's own test_pairs.txt pairs each person with another person's
garment, so every pair there is unpaired. Per pair, in this order:
- `--pairs-kind paired` or `unpaired` says it for every pair;
- the synthetic generator's manifest (`synth_manifest.json`) names the garment each person wears;
- otherwise VITON's naming: a person `NAME_0.jpg` wears `NAME_1.jpg`, i.e. the names agree once a
  trailing `_<digits>` is dropped (VITON-HD's person and garment share the whole name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tryon.data.layout import DatasetLayout, Pair
from tryon.data.synthetic.generate import MANIFEST_NAME

PAIRS_KINDS = ("auto", "paired", "unpaired")

_VIEW_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class PairKinds:
    """The split's pairs cut into paired and unpaired ones, and what decided it (for the report)."""

    paired: tuple[Pair, ...]
    unpaired: tuple[Pair, ...]
    decided_by: str


def wears_by_name(pair: Pair) -> bool:
    """VITON's naming: the person wears the garment when both names agree up to a trailing `_<digits>`."""
    return _VIEW_SUFFIX.sub("", Path(pair.person).stem) == _VIEW_SUFFIX.sub("", Path(pair.garment).stem)


def worn_garments(layout: DatasetLayout) -> dict[str, str] | None:
    """person -> the garment they wear, from the synthetic manifest of `layout`'s phase; None without one."""
    path = Path(layout.root) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        samples = json.loads(path.read_text())["samples"][layout.phase]
        return {sample["person"]: sample["garment"] for sample in samples}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path}: no readable samples.{layout.phase} list of person and garment names ({error!r}); "
            "regenerate it or pass --pairs-kind paired|unpaired"
        ) from None


def classify_pairs(layout: DatasetLayout, pairs: Sequence[Pair], *, kind: str = "auto") -> PairKinds:
    """Split `pairs` into paired and unpaired ones as the module docstring says."""
    if kind not in PAIRS_KINDS:
        raise ValueError(f"pairs kind {kind!r} is not one of {PAIRS_KINDS}")
    if kind != "auto":
        every = tuple(pairs)
        return PairKinds(
            paired=every if kind == "paired" else (),
            unpaired=every if kind == "unpaired" else (),
            decided_by=f"--pairs-kind {kind}",
        )
    worn = worn_garments(layout)
    if worn is None:
        paired = [wears_by_name(pair) for pair in pairs]
        decided_by = "VITON naming (NAME_0.jpg wears NAME_1.jpg)"
    else:
        paired = [worn.get(pair.person) == pair.garment for pair in pairs]
        decided_by = f"the garments each person wears in {MANIFEST_NAME}"
    return PairKinds(
        paired=tuple(pair for pair, own in zip(pairs, paired, strict=True) if own),
        unpaired=tuple(pair for pair, own in zip(pairs, paired, strict=True) if not own),
        decided_by=decided_by,
    )
