"""Write a synthetic ACGPN dataset: both phases of the folder contract plus a manifest.

Each sample draws from its own random stream, derived from (seed, phase, index, purpose), so a
dataset is the same bytes whichever worker renders which sample. A sample's garment stream is
also what another sample reads to wear that garment in its unpaired ground truth.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tryon.config import Resolution
from tryon.data.layout import (
    IMAGE_SUFFIX,
    LABEL_SUFFIX,
    PHASES,
    POSE_SUFFIX,
    DatasetLayout,
    Pair,
    atomic_write_text,
    write_label,
    write_mask,
    write_pairs,
    write_pose,
    write_rgb,
)
from tryon.data.synthetic.body import Body, sample_body
from tryon.data.synthetic.garment import GarmentDesign, build_garment, sample_design
from tryon.data.synthetic.render import render_person
from tryon.progress import progress_bar

GENERATOR_VERSION = 1  # bump whenever the same seed would give different files
MANIFEST_NAME = "synth_manifest.json"
STREAMS = {"body": 0, "garment": 1, "pairing": 2}
TASKS_PER_WORKER = 4  # chunks per worker: big enough to amortise messaging, small enough to balance


@dataclass(frozen=True)
class SynthSummary:
    """What `generate_dataset` wrote and how long it took."""

    root: Path
    n_train: int
    n_test: int
    resolution: Resolution
    seconds: float


@dataclass(frozen=True)
class _Task:
    """One sample to render and write; picklable for the worker pool."""

    root: Path
    phase: str
    index: int
    partner: int  # the sample whose garment the unpaired ground truth wears
    seed: int
    resolution: Resolution


def generate_dataset(
    root: Path,
    *,
    n_train: int,
    n_test: int,
    resolution: Resolution,
    seed: int,
    workers: int | None = None,
    progress: bool = False,
) -> SynthSummary:
    """Write `n_train` and `n_test` synthetic samples under `root` in the ACGPN/VITON layout.

    Per phase: person images, parsing maps, OpenPose JSON, laydown garments and their masks, the
    pairs file, and for evaluation the same person wearing another garment of the phase
    (`{phase}_unpaired_gt/`, `{phase}_unpaired.txt`). `synth_manifest.json` at the root records the
    seed, the resolution and every sample's attributes. The same seed gives byte-identical files
    for any `workers` (default: one per CPU). Worker processes start fresh (forkserver), so a script
    that calls this with several workers needs the usual `if __name__ == "__main__":` guard.

    Raises ValueError for fewer than two samples in a phase (the unpaired image needs another
    garment), a negative seed or workers below one, and FileExistsError when the phase folders
    already hold files this run would not overwrite. `progress` shows a bar on stderr.
    """
    started = time.perf_counter()
    counts = {"train": n_train, "test": n_test}
    _check_arguments(counts, seed=seed, workers=workers)
    root = Path(root)
    tasks = []
    for phase in PHASES:
        partners = _derangement(_stream(seed, phase, "pairing", 0), counts[phase])
        tasks += [_Task(root, phase, i, int(partner), seed, resolution) for i, partner in enumerate(partners)]
    _refuse_stale_files(root, counts)
    records = _run(tasks, workers=min(workers or os.cpu_count() or 1, len(tasks)), progress=progress)
    for phase in PHASES:
        layout = DatasetLayout(root, phase)
        phase_records = [record for record in records if record["phase"] == phase]
        write_pairs(layout.pairs_file, [Pair(r["person"], r["garment"]) for r in phase_records])
        write_pairs(layout.unpaired_file, [Pair(r["person"], r["unpaired_garment"]) for r in phase_records])
    _write_manifest(root, records, seed=seed, resolution=resolution, counts=counts)
    return SynthSummary(root, n_train, n_test, resolution, seconds=time.perf_counter() - started)


def _check_arguments(counts: dict[str, int], *, seed: int, workers: int | None) -> None:
    for phase, count in counts.items():
        if count < 2:
            raise ValueError(
                f"n_{phase}={count}: need at least 2 samples per phase, since each unpaired "
                "ground truth wears another garment of the same phase"
            )
    if seed < 0:
        raise ValueError(f"seed={seed} must be a non-negative integer")
    if workers is not None and workers < 1:
        raise ValueError(f"workers={workers} must be at least 1 (or None for one per CPU)")


def person_name(index: int) -> str:
    """VITON naming: the person of sample `index` (0-based) is `000001_0.jpg`."""
    return f"{index + 1:06d}_0{IMAGE_SUFFIX}"


def garment_name(index: int) -> str:
    """VITON naming: the garment of sample `index` (0-based) is `000001_1.jpg`."""
    return f"{index + 1:06d}_1{IMAGE_SUFFIX}"


def _stream(seed: int, phase: str, purpose: str, index: int) -> np.random.Generator:
    """The random stream of one purpose of one sample; independent of every other stream."""
    key = (PHASES.index(phase), STREAMS[purpose], index)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _derangement(rng: np.random.Generator, count: int) -> np.ndarray:
    """A random permutation with no fixed point (Sattolo's cycle), so nobody gets their own garment."""
    order = np.arange(count)
    for last in range(count - 1, 0, -1):
        other = int(rng.integers(last))
        order[last], order[other] = order[other], order[last]
    return order


def _refuse_stale_files(root: Path, counts: dict[str, int]) -> None:
    """Raise if a phase folder holds files this run would not overwrite.

    Leftovers from an earlier, larger run would otherwise join the dataset wherever it is read by
    folder listing (sorted pairing, the validator).
    """
    for phase in PHASES:
        layout = DatasetLayout(root, phase)
        people = [person_name(index) for index in range(counts[phase])]
        garments = [garment_name(index) for index in range(counts[phase])]
        expected = {
            layout.image_dir: people,
            layout.label_dir: [Path(p).stem + LABEL_SUFFIX for p in people],
            layout.pose_dir: [Path(p).stem + POSE_SUFFIX for p in people],
            layout.garment_dir: garments,
            layout.garment_mask_dir: garments,
            layout.unpaired_gt_dir: people,
        }
        for directory, names in expected.items():
            if not directory.is_dir():
                continue
            stale = sorted(set(_visible_files(directory)) - set(names))
            if stale:
                raise FileExistsError(
                    f"{directory} holds {len(stale)} files this dataset would not write (e.g. {stale[0]}); "
                    "generate into an empty root or delete the old dataset first"
                )


def _visible_files(directory: Path) -> Iterable[str]:
    return (path.name for path in directory.iterdir() if not path.name.startswith("."))


def _run(tasks: list[_Task], *, workers: int, progress: bool) -> list[dict[str, Any]]:
    """Render every task, in worker processes when `workers` > 1; records come back in task order."""
    if workers == 1:
        records = map(_write_sample, tasks)
        return list(progress_bar(records, total=len(tasks), unit="sample", desc="synth", enabled=progress))
    # Not fork: a child forked after OpenCV ran threads in this process deadlocks in its first
    # OpenCV call (the thread pool's locks are copied, its threads are not).
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    chunk = max(1, len(tasks) // (workers * TASKS_PER_WORKER))
    try:
        # An executor, not a Pool: a Pool silently replaces workers that die and waits forever.
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
            records = pool.map(_write_sample, tasks, chunksize=chunk)
            return list(progress_bar(records, total=len(tasks), unit="sample", desc="synth", enabled=progress))
    except BrokenProcessPool as error:
        raise RuntimeError(
            "a synthetic-data worker process died: out of memory, or a script calling generate_dataset "
            "with workers > 1 lacks the `if __name__ == \"__main__\":` guard"
        ) from error


def _init_worker() -> None:
    # Each worker is one of `workers` processes already: OpenCV's own threads would oversubscribe.
    cv2.setNumThreads(1)


@dataclass(frozen=True)
class RenderedSample:
    """One synthetic sample in memory: what the dataset files hold, plus the parsing map of the
    unpaired ground truth (exact, so tests can score regions such as newly bared arms)."""

    body: Body
    design: GarmentDesign
    partner_design: GarmentDesign
    person: np.ndarray  # (H, W, 3) uint8 RGB
    label: np.ndarray  # (H, W) ACGPN ids
    laydown: np.ndarray  # (H, W, 3) uint8 RGB garment on white
    laydown_mask: np.ndarray  # (H, W) uint8 mask
    unpaired: np.ndarray  # (H, W, 3) the same person wearing the partner's garment
    unpaired_label: np.ndarray  # (H, W) its parsing map


def render_sample(*, seed: int, phase: str, index: int, partner: int, resolution: Resolution) -> RenderedSample:
    """Render sample `index` of `phase` and its unpaired ground truth wearing `partner`'s garment,
    exactly as `generate_dataset` does for the same seed."""
    body = sample_body(_stream(seed, phase, "body", index), resolution)
    design = sample_design(_stream(seed, phase, "garment", index))
    partner_design = sample_design(_stream(seed, phase, "garment", partner))
    garment = build_garment(design, resolution)
    person, label = render_person(body, garment)
    unpaired, unpaired_label = render_person(body, build_garment(partner_design, resolution))
    laydown, mask = garment.laydown()
    return RenderedSample(body, design, partner_design, person, label, laydown, mask, unpaired, unpaired_label)


def _write_sample(task: _Task) -> dict[str, Any]:
    """Render one sample, write its six files and return its manifest record."""
    layout = DatasetLayout(task.root, task.phase)
    sample = render_sample(
        seed=task.seed, phase=task.phase, index=task.index, partner=task.partner, resolution=task.resolution
    )
    body, design, partner_design = sample.body, sample.design, sample.partner_design
    person, label, laydown, mask, unpaired = (
        sample.person,
        sample.label,
        sample.laydown,
        sample.laydown_mask,
        sample.unpaired,
    )
    name, cloth = person_name(task.index), garment_name(task.index)
    write_rgb(layout.person_image(name), person)
    write_label(layout.label(name), label)
    write_pose(layout.pose(name), body.pose(), key="pose_keypoints")
    write_rgb(layout.garment(cloth), laydown)
    write_mask(layout.garment_mask(cloth), mask)
    write_rgb(layout.unpaired_gt(name), unpaired)
    return {
        "phase": task.phase,
        "person": name,
        "garment": cloth,
        "garment_kind": design.kind,
        "pattern": design.pattern,
        "colour": list(design.colour),
        "accent": list(design.accent),
        "arms_cross_torso": body.crossing_arm is not None,
        "crossing_arm": body.crossing_arm,
        "unpaired_garment": garment_name(task.partner),
        "unpaired_garment_kind": partner_design.kind,
        "skin_tone": body.skin_tone,
        "hair_style": body.hair_style,
        "legwear": body.legwear,
    }


def _write_manifest(
    root: Path, records: list[dict[str, Any]], *, seed: int, resolution: Resolution, counts: dict[str, int]
) -> None:
    """The manifest holds no timestamps or timings, so equal seeds give equal bytes."""
    manifest = {
        "generator": "tryon.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "resolution": str(resolution),
        "counts": counts,
        "samples": {
            phase: [{k: v for k, v in r.items() if k != "phase"} for r in records if r["phase"] == phase]
            for phase in PHASES
        },
    }
    atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
