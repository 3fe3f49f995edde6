"""Run the compiled training pipeline on this machine with kfp's local runner.

Every step runs as a subprocess of the current Python (`SubprocessRunner(use_venv=False)`), so the
components import the installed `tryon` package; the cluster settings of the pipeline (GPUs, PVCs,
Secrets) have no local meaning and are ignored. The steps' own output goes to OUT/pipeline.log; the
terminal gets one line when a step starts and one with its duration when it ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tryon.config import TRAINING_STAGES
from tryon.orchestration.settings import PipelineArguments
from tryon.orchestration.steps import ARCHIVE_NAME, PREVIEW_NAME

LOG_NAME = "pipeline.log"
OUTPUTS_NAME = "outputs"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r"^Executing task '(?P<task>[^']+)'")
FINISHED = re.compile(r"^Task '(?P<task>[^']+)' finished with status (?P<status>\w+)")
SUMMARY = re.compile(r"^\s+(?:summary|Output): '(?P<text>.*)'$", re.MULTILINE)
REPEAT = re.compile(r"-\d+$")
LOCAL_NOISE = (
    # The components name our container image, which is not a python:* image; locally the current
    # interpreter runs them, with the package installed, which is what the image holds.
    r".*non-Python base image.*",
    # GPUs, CPU and memory requests are for the cluster's scheduler.
    r".*have no effect in the current local runner.*",
)


class LocalRunFailed(RuntimeError):
    """A step failed; the message names it, its last error line and the log with its whole output."""


@dataclass(frozen=True)
class StepTiming:
    """One step of a local run: the task name, its wall-clock seconds and kfp's status."""

    task: str
    seconds: float
    status: str


@dataclass(frozen=True)
class LocalRunOutputs:
    """Where a local run wrote what a person opens first."""

    run_dir: Path  # kfp's folder of this run: one folder per task with its artifacts
    log: Path  # every step's output
    preview: Path
    checkpoints: dict[str, Path]  # stage -> checkpoint.pt
    report_html: Path
    tryon_grid: Path
    model_archive: Path | None  # None when the quality gate failed and the export did not run
    steps: tuple[StepTiming, ...]


def run_pipeline_locally(
    *,
    pipeline: Path,  # compiled pipeline YAML (tryon.orchestration.compiling.compile_pipeline)
    arguments: PipelineArguments,
    out: Path,  # run folder: OUT/pipeline.log and OUT/outputs/<run>/<task>/..., the last successful run
    log: Callable[[str], None],  # receives the progress lines
) -> LocalRunOutputs:
    """Run the pipeline with kfp's local runner and return where its outputs are."""
    from kfp import components, local

    out = Path(out)
    outputs_root = out / OUTPUTS_NAME
    outputs_root.mkdir(parents=True, exist_ok=True)
    log_path = out / LOG_NAME
    earlier = set(outputs_root.iterdir())
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(outputs_root),
        # Every local run runs every step: a cached step's outputs would live in an earlier run's
        # folder, and the run's outputs are found in its own.
        enable_caching=False,
        raise_on_error=True,
    )
    run = components.load_component_from_file(str(pipeline))
    terminal = sys.stdout
    clock = StepClock(emit=lambda line: _write_to(terminal, log, line))
    with (
        log_path.open("w", encoding="utf-8") as log_file,
        _quiet_local_settings(),
        _observed(clock),
        _unbuffered_steps(),
    ):
        try:
            with contextlib.redirect_stdout(log_file):
                run(**arguments.as_dict())
            clock.flush()
        except RuntimeError as error:
            log_file.flush()
            raise LocalRunFailed(_failure_message(clock, error, log_path)) from None
    created = [
        path
        for path in outputs_root.iterdir()
        if path not in earlier and path.is_dir() and not path.name.startswith(".")
    ]
    if len(created) != 1:
        raise LocalRunFailed(
            f"{outputs_root}: expected one new run folder after the run, found {len(created)}"
        )
    outputs = find_outputs(created[0], log=log_path, steps=tuple(clock.finished))
    for path in earlier:
        # The folder keeps the last successful run, as a re-run of the demo always did; a failed
        # run's folder stays until the next success, for inspection.
        if path.is_dir() and not path.name.startswith("."):
            shutil.rmtree(path)
    return outputs


def find_outputs(run_dir: Path, *, log: Path, steps: tuple[StepTiming, ...] = ()) -> LocalRunOutputs:
    """The outputs in a local run's folder; only one dataset branch ran, so each is found once."""
    checkpoints = {}
    for stage in TRAINING_STAGES:
        # A stage's model folder also holds the previous stage's checkpoint; the stage's own
        # folder is the one with its training options.
        checkpoints[stage] = _one(run_dir, f"*/model/{stage}/options.json").parent / "checkpoint.pt"
    grids = sorted(run_dir.glob("*/evaluation/grid_*.png"))
    if not grids:
        raise LocalRunFailed(f"{run_dir}: the evaluation wrote no try-on grid")
    archives = list(run_dir.glob(f"*/archive/{ARCHIVE_NAME}"))
    return LocalRunOutputs(
        run_dir=run_dir,
        log=log,
        preview=_one(run_dir, f"*/preview/{PREVIEW_NAME}"),
        checkpoints=checkpoints,
        report_html=_one(run_dir, "*/evaluation/report.html"),
        tryon_grid=next((grid for grid in grids if "unpaired" in grid.name), grids[-1]),
        model_archive=archives[0] if len(archives) == 1 else None,
        steps=steps,
    )


class StepClock(logging.Filter):
    """Times each task from kfp's "Executing task" record to its "finished with status" record, and
    says what the step returned (its `summary` or `Output` string) beside the duration.

    Attached to the root logger as a filter, it sees kfp's records whatever handlers kfp installs,
    and lets every record through. Task names lose the `-N` kfp adds to repeated components.
    """

    def __init__(self, *, emit: Callable[[str], None]) -> None:
        super().__init__()
        self.emit = emit
        self.started: dict[str, float] = {}
        self.finished: list[StepTiming] = []
        self.current: str | None = None
        self.pending: StepTiming | None = None  # finished, its outputs not yet seen

    def filter(self, record: logging.LogRecord) -> bool:
        message = ANSI.sub("", record.getMessage())
        if started := STARTED.match(message):
            self.flush()
            self.current = started["task"]
            self.started[self.current] = time.perf_counter()
            self.emit(f"  {step_name(self.current)} ...")
        elif finished := FINISHED.match(message):
            self.flush()
            task = finished["task"]
            seconds = time.perf_counter() - self.started.pop(task, time.perf_counter())
            self.pending = StepTiming(task=task, seconds=seconds, status=finished["status"])
            self.finished.append(self.pending)
            if self.pending.status != "SUCCESS":
                self.flush()
        elif self.pending and message.startswith(f"Task '{self.pending.task}'"):
            summary = SUMMARY.search(message)
            self.flush(summary["text"] if summary else "")
        return True

    def fail_running(self) -> StepTiming | None:
        """The step that failed the run, printed once: kfp either logs a failed task's end or raises
        without it, and then the step still running is the one that failed. None when no step ran."""
        self.flush()
        if self.current is not None and self.current in self.started:
            seconds = time.perf_counter() - self.started.pop(self.current)
            self.pending = StepTiming(task=self.current, seconds=seconds, status="FAILURE")
            self.finished.append(self.pending)
            self.flush()
        failed = [step for step in self.finished if step.status != "SUCCESS"]
        return failed[-1] if failed else None

    def flush(self, summary: str = "") -> None:
        """Print the finished step that is waiting for its outputs."""
        if self.pending is None:
            return
        step, self.pending = self.pending, None
        line = f"  {step_name(step.task)}: {step.status.lower()} in {step.seconds:.1f} s"
        self.emit(f"{line} ({summary})" if summary else line)


def step_name(task: str) -> str:
    """The component's name of a task: `train-stage-3` is the third `train-stage`."""
    return REPEAT.sub("", task)


@contextlib.contextmanager
def _observed(clock: StepClock) -> Iterator[None]:
    root = logging.getLogger()
    root.addFilter(clock)
    try:
        yield
    finally:
        root.removeFilter(clock)


@contextlib.contextmanager
def _unbuffered_steps() -> Iterator[None]:
    # The steps inherit this environment; unbuffered, their lines reach pipeline.log as they happen.
    previous = os.environ.get("PYTHONUNBUFFERED")
    os.environ["PYTHONUNBUFFERED"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTHONUNBUFFERED", None)
        else:
            os.environ["PYTHONUNBUFFERED"] = previous


@contextlib.contextmanager
def _quiet_local_settings() -> Iterator[None]:
    with warnings.catch_warnings():
        for pattern in LOCAL_NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        yield


def _write_to(stream: TextIO, log: Callable[[str], None], line: str) -> None:
    # Progress lines reach the terminal while the steps' output is redirected to the log file.
    with contextlib.redirect_stdout(stream):
        log(line)


def _failure_message(clock: StepClock, error: RuntimeError, log_path: Path) -> str:
    failed = clock.fail_running()
    step = step_name(failed.task) if failed else "the pipeline"
    lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|InvalidDataset)\b.*:", line)]
    reason = errors[-1] if errors else ANSI.sub("", str(error))
    return f"step {step} failed: {reason} (its whole output: {log_path})"


def _one(run_dir: Path, pattern: str) -> Path:
    found = sorted(run_dir.glob(pattern))
    if len(found) != 1:
        raise LocalRunFailed(f"{run_dir}: expected one {pattern}, found {len(found)}")
    return found[0]
