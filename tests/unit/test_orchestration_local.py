"""The local run's step clock: one line per step with its duration and what it returned, read from
kfp's log records; the failed step named once."""

from __future__ import annotations

import logging
import re

from tryon.orchestration.local import StepClock


def feed(clock: StepClock, *messages: str) -> None:
    logger = logging.getLogger("test-step-clock")
    for message in messages:
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, None, None)
        assert clock.filter(record) is True  # every record goes on to kfp's handler


def test_the_step_clock_times_steps_and_says_what_they_returned():
    lines: list[str] = []
    clock = StepClock(emit=lines.append)
    feed(
        clock,
        "Executing task \x1b[96m'train-stage-2'\x1b[0m",
        "Streamed logs:\n",
        "Task \x1b[96m'train-stage-2'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m",
        "Task \x1b[96m'train-stage-2'\x1b[0m outputs:\n    Output: 'stage warp: warp/checkpoint.pt'\n"
        "    model: Model( name='model',\n                  uri='/x/model',\n                  metadata={} )",
        "Executing task \x1b[96m'export'\x1b[0m",
    )
    assert lines[0] == "  train-stage ..."
    assert re.fullmatch(r"  train-stage: success in \d+\.\d s \(stage warp: warp/checkpoint.pt\)", lines[1])
    assert lines[2] == "  export ..."
    (timing,) = clock.finished
    assert (timing.task, timing.status) == ("train-stage-2", "SUCCESS") and timing.seconds >= 0


def test_a_step_that_fails_without_an_end_record_is_the_one_named():
    lines: list[str] = []
    clock = StepClock(emit=lines.append)
    feed(
        clock,
        "Executing task 'fetch'",
        "Task 'fetch' finished with status SUCCESS",
        "Task 'fetch' has no outputs",
        "Executing task 'validate-3'",
    )
    failed = clock.fail_running()
    assert failed.task == "validate-3" and failed.status == "FAILURE"
    assert lines[-1].startswith("  validate: failure in ")
    assert clock.fail_running() is failed and lines.count(lines[-1]) == 1
