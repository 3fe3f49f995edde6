"""`tryon avatars add|list`, `tryon export` and `tryon render-catalog`: preparing and packing what is served."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tryon.cli.app import ParamsOption, PhaseOption, app, fail

avatars_app = typer.Typer(help="Build and inspect the avatar table served with the model.", no_args_is_help=True)
app.add_typer(avatars_app, name="avatars")

AvatarsOption = Annotated[Path, typer.Option("--avatars", help="Avatar table file, e.g. models/avatars.pt.")]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="Build for this trained model (its resolution and pose settings); else --params."),
]


def _model_config(checkpoint: Path | None, params: Path | None):
    from tryon.checkpoint import load_checkpoint
    from tryon.config import load_params

    if checkpoint is not None:
        return load_checkpoint(checkpoint).model_config
    return load_params(params).model


@avatars_app.command("add")
def avatars_add(
    avatars: AvatarsOption,
    data: Annotated[Path | None, typer.Option("--data", help="Dataset root whose persons become avatars.")] = None,
    phase: PhaseOption = "test",
    person: Annotated[
        list[str] | None, typer.Option("--person", help="Person image name, e.g. 000001_0.jpg; repeat; all when omitted.")
    ] = None,
    photo: Annotated[Path | None, typer.Option("--photo", help="A person photo (instead of --data).", exists=True, dir_okay=False)] = None,
    pose: Annotated[Path | None, typer.Option("--pose", help="OpenPose JSON of --photo.", exists=True, dir_okay=False)] = None,
    parsing: Annotated[Path | None, typer.Option("--parsing", help="Parser output (PNG) of --photo.", exists=True, dir_okay=False)] = None,
    parser: Annotated[str, typer.Option("--parser", help="Parser that wrote --parsing: lip, cihp or atr (its ids are remapped).")] = "lip",
    avatar_id: Annotated[str | None, typer.Option("--id", help="Avatar id for --photo; its file stem by default.")] = None,
    person_index: Annotated[
        int | None, typer.Option("--person-index", min=0, help="Which person of a pose file listing several.")
    ] = None,
    checkpoint: CheckpointOption = None,
    params: ParamsOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Rebuild avatars whose id exists already.")] = False,
) -> None:
    """Add dataset persons (--data) or a photo with its pose and parsing (--photo) to the avatar table."""
    from tryon.serve.avatars import AvatarRefused, AvatarTableError, add_photo_avatar, build_avatars

    if (data is None) == (photo is None):
        raise fail("avatars add: give either --data (dataset persons) or --photo with --pose and --parsing")
    try:
        config = _model_config(checkpoint, params)
        if data is not None:
            report = build_avatars(data_root=data, out=avatars, config=config, phase=phase, persons=person, replace=replace)
        else:
            if pose is None or parsing is None:
                raise fail("avatars add: --photo needs --pose (OpenPose JSON) and --parsing (parser output)")
            added = add_photo_avatar(
                avatar_id or photo.stem, image_path=photo, pose_path=pose, parsing_path=parsing, parser=parser,
                out=avatars, config=config, person_index=person_index, replace=replace,
            )
            typer.echo(f"avatars: added {added.avatar_id} to {avatars}")
            return
    except AvatarRefused as error:
        raise fail(f"avatars add: refused: {error}") from None
    except (AvatarTableError, FileNotFoundError, ValueError) as error:
        raise fail(f"avatars add: {error}") from None
    for problem in report.refused:
        typer.secho(f"refused {problem}", err=True, fg=typer.colors.YELLOW)
    typer.echo(f"{report.summary()} ({avatars})")
    if not report.added:
        raise typer.Exit(code=1)


@avatars_app.command("list")
def avatars_list(
    avatars: AvatarsOption,
    sheet: Annotated[Path | None, typer.Option("--sheet", help="Write a thumbnail sheet (PNG) of every avatar.")] = None,
) -> None:
    """Print the avatars (id, source) and optionally write their thumbnail sheet."""
    from tryon.serve.avatars import AvatarTable, AvatarTableError, write_avatar_sheet

    try:
        table = AvatarTable.load(avatars)
    except AvatarTableError as error:
        raise fail(f"avatars list: {error}") from None
    typer.echo(f"{avatars}: {len(table)} avatars at {table.resolution}")
    for avatar_id in table.ids:
        typer.echo(f"{avatar_id}\t{table.avatars[avatar_id].source}")
    if sheet is not None:
        if not len(table):
            raise fail("avatars list: the table is empty, no sheet written")
        typer.echo(f"sheet: {write_avatar_sheet(table, sheet)}")


@app.command("export")
def export(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Finished fusion checkpoint (models/fusion/checkpoint.pt).")],
    avatars: AvatarsOption,
    out: Annotated[Path, typer.Option("--out", help="Model archive to write; its name is the model's name.")] = Path("models/tryon.mar"),
) -> None:
    """Pack the EMA weights, the config and the avatar table into a TorchServe model archive."""
    from tryon.checkpoint import UnfinishedCheckpointError
    from tryon.serve.export import ExportError, export_archive

    try:
        written = export_archive(checkpoint=checkpoint, avatars=avatars, out=out)
    except (ExportError, UnfinishedCheckpointError, FileNotFoundError, ValueError) as error:
        raise fail(f"export: {error}") from None
    typer.echo(f"export: {written}")



@app.command("render-catalog")
def render_catalog(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Finished fusion checkpoint.")],
    avatars: AvatarsOption,
    garments: Annotated[Path, typer.Option("--garments", help="Folder of laydown garment photos (JPEG or PNG, any size).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNG files and index.csv; a rerun resumes.")],
    colors: Annotated[
        Path | None,
        typer.Option("--colors", help="Colours file: `NAME #RRGGBB`, `#RRGGBB` or `original` per line.", exists=True, dir_okay=False),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Garments per forward pass on one avatar.")] = 8,
    device: Annotated[str | None, typer.Option("--device", help="cpu, cuda or cuda:N; CUDA when available by default.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generators' noise.")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Render every avatar x garment (x colour) combination into static images with an index."""
    import torch

    from tryon.checkpoint import UnfinishedCheckpointError
    from tryon.inference import load_trained_pipeline
    from tryon.serve.avatars import AvatarTable, AvatarTableError
    from tryon.serve.catalog import ORIGINAL, CatalogColour, read_colours
    from tryon.serve.catalog import render_catalog as render

    try:
        colours = read_colours(colors) if colors else [CatalogColour(ORIGINAL)]
        pipeline = load_trained_pipeline(checkpoint, device=device)
        table = AvatarTable.load(avatars)
        torch.manual_seed(seed)
        report = render(pipeline=pipeline, avatars=table, garments_dir=garments, out_dir=out, colours=colours,
                        batch_size=batch_size, progress=progress)
    except (AvatarTableError, UnfinishedCheckpointError, FileNotFoundError, ValueError) as error:
        raise fail(f"render-catalog: {error}") from None
    for problem in report.refused:
        typer.secho(f"refused {problem}", err=True, fg=typer.colors.YELLOW)
    typer.echo(f"{report.summary()}; index {report.index}")


@app.command("serve")
def serve(
    archive: Annotated[Path, typer.Option("--archive", help="Model archive (tryon export).", exists=True, dir_okay=False)] = Path("models/tryon.mar"),
    workdir: Annotated[Path, typer.Option("--workdir", help="Server folder: config, logs, model store, key file.")] = Path("runs/serve"),
    port: Annotated[int, typer.Option("--port", help="Inference port (the gateway's with --storefront-keys); without the gateway, management and metrics use the next two.")] = 8080,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Requests TorchServe gathers into one batch.")] = 4,
    batch_delay_ms: Annotated[int, typer.Option("--batch-delay-ms", min=0, help="How long it waits to fill a batch.")] = 20,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes, each with the model.")] = 1,
    token_auth: Annotated[bool, typer.Option("--token-auth/--no-token-auth", help="TorchServe's token authorization.")] = True,
    storefront_keys: Annotated[
        Path | None,
        typer.Option("--storefront-keys", exists=True, dir_okay=False,
                     help="Serve through the gateway, as a pod does: storefront keys, one per line."),
    ] = None,
) -> None:
    """Run TorchServe with the archive on 127.0.0.1 until Ctrl-C (a local server; Kubernetes has its own config).

    With --storefront-keys, the gateway answers on --port with those keys, as in Kubernetes, and
    TorchServe takes free ports behind it."""
    from tryon.serve.local import LocalGateway, LocalServer, Registration, ServerError

    registration = Registration(batch_size=batch_size, max_batch_delay_ms=batch_delay_ms, workers=workers)
    server = LocalServer(archive=archive, workdir=workdir, registration=registration, token_auth=token_auth,
                         port=None if storefront_keys else port, startup_timeout_s=300)
    gateway = None
    try:
        server.start()
        if storefront_keys is not None:
            gateway = LocalGateway(server=server, client_keys=storefront_keys, log=workdir / "gateway.log", port=port)
            gateway.start()
    except ServerError as error:
        server.stop()
        raise fail(f"serve: {error}") from None
    if gateway is not None:
        typer.echo(f"serve: storefronts call {gateway.url}/predictions/{server.model} "
                   f"(Authorization: Bearer <a key of {storefront_keys}>); gateway log {gateway.log}")
    typer.echo(f"serve: inference {server.endpoints.inference}/predictions/{server.model}, "
               f"management {server.endpoints.management}, metrics {server.endpoints.metrics}/metrics")
    if token_auth:
        typer.echo(f"serve: API keys in {workdir / 'key_file.json'} (Authorization: Bearer <inference key>)")
    typer.echo(f"serve: logs in {workdir / 'logs'}; Ctrl-C stops the server")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        typer.echo("serve: stopping")
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()
