"""Check that each DVC stage that runs a `tryon` command lists the package code it imports as deps.

dvc.yaml names code by subpackage folder (`tryon/train`) where the command imports any module of
that subpackage, and by file for the package's top-level modules (`tryon/config.py`). A folder is a
little wider than the closure, but modules added to or removed from a subpackage need no edit of
dvc.yaml, and the stage still does not depend on subpackages it never imports. `check_stage_deps`
compares dvc.yaml with the closures both ways: a module the command imports that no dep covers,
and a code dep that covers nothing the command imports (which would re-run the stage for nothing).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from tryon.versioning.imports import PACKAGE, command_modules, module_paths


@dataclass(frozen=True)
class StageDepsReport:
    """How a stage's code deps in dvc.yaml compare with what its command imports."""

    stage: str
    commands: tuple[tuple[str, ...], ...]  # the CLI words of each command, e.g. (("data", "validate"),)
    missing: tuple[str, ...]  # imported modules no dep covers
    extra: tuple[str, ...]  # code deps that cover no module the command imports
    expected: tuple[str, ...]  # the code deps dvc.yaml should list

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


def command_words(cmd: str) -> tuple[str, ...] | None:
    """The command of a stage's `cmd` (`tryon data validate ...` -> ("data", "validate")), or None
    when the stage does not run the `tryon` CLI."""
    from tryon.cli import app  # every command module registered

    tokens = shlex.split(cmd)
    if not tokens or Path(tokens[0]).name != PACKAGE:
        return None
    groups = {info.name for info in app.registered_groups}
    return tuple(tokens[1:3]) if len(tokens) > 2 and tokens[1] in groups else tuple(tokens[1:2])


def _modules_under(folder: PurePosixPath, repo: Path) -> set[PurePosixPath]:
    return {
        PurePosixPath(path.relative_to(repo).as_posix())
        for path in (repo / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def stage_code_deps(files: Iterable[PurePosixPath | Path]) -> list[str]:
    """The code deps for modules `files` (paths from the repo root): the subpackage folder of each
    module inside one (`tryon/train/loop.py` -> `tryon/train`), the file itself otherwise."""
    deps = set()
    for path in map(PurePosixPath, (Path(name).as_posix() for name in files)):
        deps.add(str(PurePosixPath(*path.parts[:2]) if len(path.parts) > 2 else path))
    return sorted(deps)


def covered_modules(deps: Sequence[str], *, repo: Path) -> set[PurePosixPath]:
    """The package modules that the code deps `deps` (files or folders) stand for."""
    covered: set[PurePosixPath] = set()
    for dep in deps:
        path = PurePosixPath(dep)
        if path.parts[:1] != (PACKAGE,):
            continue
        covered |= _modules_under(path, repo) if (repo / path).is_dir() else {path}
    return covered


def check_stage_deps(dvc_yaml: Path) -> list[StageDepsReport]:
    """Compare each stage of `dvc_yaml` that runs `tryon` with its commands' import closure."""
    repo = Path(dvc_yaml).resolve().parent
    stages: Mapping[str, dict] = (yaml.safe_load(Path(dvc_yaml).read_text()) or {}).get("stages", {})
    reports = []
    for name, stage in stages.items():
        commands = stage["cmd"] if isinstance(stage["cmd"], list) else [stage["cmd"]]
        words_of = [words for words in map(command_words, commands) if words is not None]
        if not words_of:
            continue
        closure = {
            PurePosixPath(path.as_posix())
            for words in words_of
            for path in module_paths(command_modules(words), relative_to=repo)
        }
        deps = [dep if isinstance(dep, str) else next(iter(dep)) for dep in stage.get("deps", [])]
        covered = covered_modules(deps, repo=repo)
        extra = [
            dep
            for dep in deps
            if PurePosixPath(dep).parts[:1] == (PACKAGE,) and not covered_modules([dep], repo=repo) & closure
        ]
        reports.append(
            StageDepsReport(
                stage=name,
                commands=tuple(words_of),
                missing=tuple(sorted(str(path) for path in closure - covered)),
                extra=tuple(sorted(extra)),
                expected=tuple(stage_code_deps(closure)),
            )
        )
    return reports
