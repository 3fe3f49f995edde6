"""Import closures of CLI commands: the code dependencies that dvc.yaml must list per stage."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path, PurePosixPath

import pytest

from tryon.versioning.imports import command_callback, command_modules, import_closure
from tryon.versioning.stages import command_words, stage_code_deps

REPO = Path(__file__).resolve().parents[2]


def write_package(root: Path, modules: dict[str, str]) -> Path:
    """A fake `tryon` package under `root` from {dotted name: source}; returns the package folder."""
    for name, source in modules.items():
        parts = name.split(".")
        path = root.joinpath(*parts[:-1], f"{parts[-1]}.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root / "tryon"


def test_closure_follows_relative_nested_and_from_imports(tmp_path):
    package = write_package(
        tmp_path,
        {
            "tryon.a": "from tryon.sub import b\n",
            "tryon.sub.__init__": "",
            "tryon.sub.b": "from . import c\ndef run():\n    from ..lazy import thing\n",
            "tryon.sub.c": "import os\n",
            "tryon.lazy": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tryon.typing_only\n",
            "tryon.typing_only": "",
            "tryon.unused": "",
        },
    )
    assert import_closure(["tryon.a"], root=package) == {
        "tryon.a",
        "tryon.sub",
        "tryon.sub.b",
        "tryon.sub.c",
        "tryon.lazy",
    }


def test_cli_modules_count_only_module_level_imports(tmp_path):
    package = write_package(
        tmp_path,
        {
            "tryon.cli.__init__": "from tryon.cli import commands\n",
            "tryon.cli.commands": "from tryon import config\ndef heavy():\n    import tryon.nets\n",
            "tryon.config": "",
            "tryon.nets": "",
        },
    )
    assert import_closure(["tryon.cli"], root=package) == {"tryon.cli", "tryon.cli.commands", "tryon.config"}


def test_commands_are_found_in_groups_and_at_the_top():
    assert command_callback(("data", "validate")).__name__ == "data_validate"
    assert command_callback(("train",)).__name__ == "train"
    with pytest.raises(LookupError, match="`tryon data nothing` is not a command"):
        command_callback(("data", "nothing"))
    assert command_words("tryon data validate data --size ${data.resolution} > out.txt") == (
        "data",
        "validate",
    )
    assert command_words("tryon train --stage sgm") == ("train",)
    assert command_words("python script.py") is None


def test_train_closure_holds_the_modules_training_needs_and_not_evaluation():
    modules = command_modules(("train",))
    assert {
        "tryon.config",
        "tryon.labels",
        "tryon.pipeline",
        "tryon.train.run",
        "tryon.nets",
        "tryon.losses",
    } <= modules
    assert not any(name.startswith("tryon.eval") for name in modules)


def test_stage_code_deps_name_subpackages_by_folder_and_top_level_modules_by_file():
    files = [
        PurePosixPath("tryon/nets/unet.py"),
        PurePosixPath("tryon/eval/metrics/fid.py"),
        Path("tryon/config.py"),
    ]
    assert stage_code_deps(files) == ["tryon/config.py", "tryon/eval", "tryon/nets"]


def test_static_closure_holds_every_module_a_run_imports():
    """The command's own lazy imports executed for real: what Python loads is inside the closure."""
    callback = command_callback(("evaluate",))
    body = ast.parse(textwrap.dedent(inspect.getsource(callback))).body[0]
    imports = [ast.unparse(node) for node in ast.walk(body) if isinstance(node, ast.Import | ast.ImportFrom)]
    script = (
        "import json, sys\nimport tryon.cli\n"
        + "".join(f"{statement}\n" for statement in imports)
        + "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] == 'tryon')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True, cwd=REPO
    )
    loaded = set(json.loads(done.stdout)) - {"tryon"}  # the namespace package has no file
    assert loaded - command_modules(("evaluate",)) == set()
    assert "tryon.eval.metrics.fid" in loaded
