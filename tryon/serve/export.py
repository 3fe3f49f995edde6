"""Pack a finished model and its avatars into a TorchServe model archive (.mar).

The archive holds the EMA generator weights with their model config (a weights-only checkpoint),
the avatar table, the serving settings and the handler entry file `tryon.serve.handler`, which
only imports the installed `tryon` package: no other source goes into the archive.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tryon.checkpoint import EMA_STATE, FINAL_STAGE, load_checkpoint, require_finished, save_checkpoint
from tryon.serve.avatars import AvatarTable, AvatarTableError
from tryon.serve.service import AVATARS_FILE, SETTINGS_FILE, WEIGHTS_FILE, ServeSettings

ARCHIVE_SUFFIX = ".mar"
ARCHIVER_TIMEOUT_S = 600
HANDLER_ENTRY = Path(__file__).with_name("handler.py")


class ExportError(ValueError):
    """What the export refused, and why."""


def export_archive(
    *,
    checkpoint: Path,
    avatars: Path,
    out: Path,
    settings: ServeSettings | None = None,
    version: str = "1.0",
) -> Path:
    """Write `out` (NAME.mar; NAME is the model's name in TorchServe) atomically and return it.

    Refuses (ExportError, UnfinishedCheckpointError) a checkpoint that is not a finished fusion
    stage or holds no EMA weights, and an avatar table that is empty or built for another model.
    """
    checkpoint, avatars, out = Path(checkpoint), Path(avatars), Path(out)
    if out.suffix != ARCHIVE_SUFFIX:
        raise ExportError(f"--out {out}: a TorchServe archive is named NAME{ARCHIVE_SUFFIX}")
    loaded = load_checkpoint(checkpoint)
    require_finished(loaded, path=checkpoint, stage=FINAL_STAGE)
    if EMA_STATE not in loaded.state:
        raise ExportError(f"checkpoint {checkpoint} holds no EMA weights ({EMA_STATE}); export serves those")
    try:
        table = AvatarTable.load(avatars)
        table.check_fits(loaded.model_config, where=avatars)
    except AvatarTableError as error:
        raise ExportError(str(error)) from None
    if not len(table):
        raise ExportError(f"avatar table {avatars} is empty; add avatars with `tryon avatars add`")

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-export-") as staging:
        staging = Path(staging)
        files = staging / "files"
        files.mkdir()
        save_checkpoint(
            files / WEIGHTS_FILE,
            model_config=loaded.model_config,
            state={EMA_STATE: loaded.state[EMA_STATE], "stage": FINAL_STAGE, "finished": True},
        )
        shutil.copyfile(avatars, files / AVATARS_FILE)
        (files / SETTINGS_FILE).write_text((settings or ServeSettings()).to_json())
        entry = files / HANDLER_ENTRY.name
        shutil.copyfile(HANDLER_ENTRY, entry)
        _archive(
            name=out.stem,
            version=version,
            handler=entry,
            weights=files / WEIGHTS_FILE,
            extra=[files / AVATARS_FILE, files / SETTINGS_FILE],
            export_dir=staging,
        )
        os.replace(staging / f"{out.stem}{ARCHIVE_SUFFIX}", out)
    return out


def _archive(*, name: str, version: str, handler: Path, weights: Path, extra: list[Path], export_dir: Path) -> None:
    """Run torch-model-archiver in a subprocess whose temporary folder is private: the archiver stages
    files in TMPDIR/NAME, which two exports of the same name at once would otherwise share."""
    command = [
        sys.executable, "-m", "model_archiver.model_packaging",
        "--model-name", name,
        "--version", version,
        "--handler", str(handler),
        "--serialized-file", str(weights),
        "--extra-files", ",".join(str(path) for path in extra),
        "--export-path", str(export_dir),
    ]
    if importlib.util.find_spec("model_archiver") is None:
        raise ExportError("torch-model-archiver is not installed; install the package with its serve extra: pip install '.[serve]'")
    private = export_dir / "tmp"
    private.mkdir()
    completed = subprocess.run(
        command, env={**os.environ, "TMPDIR": str(private)}, capture_output=True, text=True,
        timeout=ARCHIVER_TIMEOUT_S, check=False,
    )
    if completed.returncode != 0:
        raise ExportError(f"torch-model-archiver failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
