"""Serving load: a local TorchServe server answering a bounded number of try-on requests at several
concurrencies, and the catalog renderer's throughput on the same model, for comparison.

The model has random weights (speed does not depend on them) at `--size` with `--preset`, marked
finished so that it exports; its avatars are synthetic persons. The server is `tryon.serve.local`'s
(127.0.0.1, token authorization on, the model registered with `--batch-size`, `--batch-delay-ms` and
`--workers`), called directly with its own key and through the gateway in front of it with a
storefront key, as storefronts call a pod (`--entries`). For each concurrency and entry, `--warmup`
untimed requests, then `--requests` timed ones; the report gives throughput, p50/p95/p99 latency and
errors, which must be zero. Run it on a quiet
machine: on a shared one the latencies measure the other work.

    .venv/bin/python bench/serve.py --write bench/RESULTS.md
    .venv/bin/python bench/serve.py --requests 30 --concurrency 1,4 --catalog-garments 8
"""

from __future__ import annotations

import argparse
import math
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from machine import detect
from results import command_line, write_section

from tryon.client import TryOnClient, TryOnError
from tryon.precision import resolve_precision

HEADING = "## Serving"


@dataclass(frozen=True)
class LoadResult:
    """One concurrency level: request count, errors, wall time and the latencies of the successes."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: tuple[float, ...]

    @property
    def throughput(self) -> float:
        """Successful try-ons per second of wall time."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        """Latency below which `share` of the successful requests finished (nearest rank)."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def run_load(send, *, requests: int, concurrency: int) -> LoadResult:
    """Call `send()` `requests` times from `concurrency` threads; TryOnError counts as an error."""
    remaining = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def worker() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            started = time.perf_counter()
            try:
                send()
            except (TryOnError, OSError):
                with lock:
                    errors[0] += 1
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    return LoadResult(concurrency=concurrency, requests=requests, errors=errors[0],
                      seconds=time.perf_counter() - started, latencies=tuple(latencies))


HEADER = (
    "| entry | concurrency | requests | errors | try-ons/s | p50 s | p95 s | p99 s | mean s |\n"
    "|---|---|---|---|---|---|---|---|---|"
)
ENTRIES = ("torchserve", "gateway")  # TorchServe called directly, or through the pod's gateway


def row(result: LoadResult, *, entry: str) -> str:
    mean = statistics.fmean(result.latencies) if result.latencies else float("nan")
    cells = [entry, result.concurrency, result.requests, result.errors, f"{result.throughput:.2f}", f"{result.percentile(0.5):.3f}",
             f"{result.percentile(0.95):.3f}", f"{result.percentile(0.99):.3f}", f"{mean:.3f}"]
    return "| " + " | ".join(map(str, cells)) + " |"


def build_model(folder: Path, *, size: str, preset: str, avatars: int) -> tuple[Path, bytes, list[str]]:
    """A finished-marked checkpoint of random generators, avatars from synthetic persons and one
    garment photo; returns the archive, the garment's bytes and the avatar ids."""
    import torch

    from tryon.checkpoint import EMA_STATE, save_checkpoint
    from tryon.config import ModelConfig, Resolution
    from tryon.data.layout import DatasetLayout
    from tryon.data.synthetic import generate_dataset
    from tryon.nets import TryOnGenerators
    from tryon.serve.avatars import build_avatars
    from tryon.serve.export import export_archive

    resolution = Resolution.parse(size)
    config = ModelConfig.from_preset(preset, resolution)
    torch.manual_seed(0)
    state = TryOnGenerators.from_config(config).state_dict()
    checkpoint = save_checkpoint(folder / "checkpoint.pt", model_config=config,
                                 state={EMA_STATE: state, "stage": "fusion", "finished": True})
    data = folder / "data"
    generate_dataset(data, n_train=2, n_test=max(2, avatars), resolution=resolution, seed=0, workers=1)
    report = build_avatars(data_root=data, out=folder / "avatars.pt", config=config, phase="test")
    ids = list(report.added[:avatars])
    garment = DatasetLayout(data, "test").garment(DatasetLayout(data, "test").garment_names()[0]).read_bytes()
    archive = export_archive(checkpoint=checkpoint, avatars=folder / "avatars.pt", out=folder / "tryon.mar")
    return archive, garment, ids


def catalog_seconds_per_tryon(folder: Path, *, garment: bytes, garments: int, batch_size: int) -> float:
    """Wall seconds per try-on of `render_catalog` for `garments` garments on one avatar."""
    from tryon.inference import load_trained_pipeline
    from tryon.serve.avatars import AvatarTable
    from tryon.serve.catalog import render_catalog

    table = AvatarTable.load(folder / "avatars.pt")
    one = AvatarTable(resolution=table.resolution, pose_radius=table.pose_radius,
                      avatars={table.ids[0]: table.avatars[table.ids[0]]})
    photos = folder / "catalog_garments"
    photos.mkdir()
    for index in range(garments):
        (photos / f"g{index:03d}.jpg").write_bytes(garment)
    pipeline = load_trained_pipeline(folder / "checkpoint.pt", device="cpu")
    started = time.perf_counter()
    report = render_catalog(pipeline=pipeline, avatars=one, garments_dir=photos, out_dir=folder / "catalog",
                            batch_size=batch_size)
    return (time.perf_counter() - started) / report.rendered


def section(command: str, lines: list[str], notes: list[str], machine_line: str) -> str:
    return "\n".join([
        HEADING, "",
        f"Command: `{command}`",
        f"({time.strftime('%Y-%m-%d')}; {machine_line}).", "",
        "A local TorchServe server (`tryon.serve.local`: 127.0.0.1, token authorization on) with a model of",
        "random weights and synthetic avatars; each request is a JSON body with a laydown garment in base64",
        "(`TryOnClient.try_on`), decoded, prepared, tried on and answered as PNG. Latencies are per request,",
        "client side, after untimed warm-up requests. Entry `torchserve` calls TorchServe with its own key;",
        "`gateway` calls the gateway in front of it (`tryon.serve.local.LocalGateway`, as in a pod) with a",
        "storefront key; at each concurrency the entries run one after the other.", "",
        *lines, "", *notes, "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="256x192")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--requests", type=int, default=300, help="Timed requests per concurrency.")
    parser.add_argument("--warmup", type=int, default=8, help="Untimed requests before them.")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--entries", default=",".join(ENTRIES), help=f"Which of {', '.join(ENTRIES)} to load.")
    parser.add_argument("--batch-size", type=int, default=4, help="TorchServe batch size in the registration.")
    parser.add_argument("--batch-delay-ms", type=int, default=20, help="TorchServe max batch delay.")
    parser.add_argument("--workers", type=int, default=1, help="TorchServe worker processes.")
    parser.add_argument("--avatars", type=int, default=2, help="Avatars the requests cycle through.")
    parser.add_argument("--catalog-garments", type=int, default=32, help="Garments for the catalog comparison; 0 skips it.")
    parser.add_argument("--catalog-batch", type=int, default=8, help="Garments per forward pass in the catalog.")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--write", type=Path, help=f"Results file whose {HEADING} section to (re)write.")
    args = parser.parse_args()

    from tryon.serve.local import LocalGateway, LocalServer, Registration

    entries = args.entries.split(",")
    if not set(entries) <= set(ENTRIES):
        parser.error(f"--entries takes {', '.join(ENTRIES)}, not {args.entries}")
    precision = resolve_precision("auto", "cpu").name
    machine_line = detect("cpu").describe(precision)
    print(f"Machine: {machine_line}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        archive, garment, avatars = build_model(folder, size=args.size, preset=args.preset, avatars=args.avatars)
        registration = Registration(batch_size=args.batch_size, max_batch_delay_ms=args.batch_delay_ms, workers=args.workers)
        lines, results = [HEADER], []
        print(HEADER, flush=True)
        storefront_key = secrets.token_urlsafe(32)
        (folder / "storefront-keys").write_text(storefront_key + "\n")
        with (
            LocalServer(archive=archive, workdir=folder / "server", registration=registration,
                        startup_timeout_s=args.startup_timeout) as server,
            LocalGateway(server=server, client_keys=folder / "storefront-keys", log=folder / "gateway.log") as gateway,
        ):
            clients = {
                "torchserve": TryOnClient(server.endpoints.inference, token=server.token("inference"), timeout_s=120),
                "gateway": TryOnClient(gateway.url, token=storefront_key, timeout_s=120),
            }
            turn = iter(range(10**9))

            for concurrency in (int(value) for value in args.concurrency.split(",")):
                for entry in entries:
                    def send(client: TryOnClient = clients[entry]) -> None:
                        client.try_on(avatar=avatars[next(turn) % len(avatars)], garment=garment)

                    run_load(send, requests=args.warmup, concurrency=concurrency)
                    result = run_load(send, requests=args.requests, concurrency=concurrency)
                    results.append(result)
                    lines.append(row(result, entry=entry))
                    print(lines[-1], flush=True)
        settings = (f"- {args.size}, preset {args.preset}, precision {precision}; TorchServe: {args.workers} worker(s), "
                    f"batch size {args.batch_size}, max batch delay {args.batch_delay_ms} ms; {len(avatars)} avatars.")
        notes = [settings]
        if any(result.errors for result in results):
            notes.append("- ERRORS: some requests failed; these rows do not measure a working server.")
        if args.catalog_garments:
            seconds = catalog_seconds_per_tryon(folder, garment=garment, garments=args.catalog_garments,
                                                batch_size=args.catalog_batch)
            notes.append(f"- Catalog pre-rendering (`tryon render-catalog`, in process, {args.catalog_garments} garments on "
                         f"one avatar in batches of {args.catalog_batch}): {seconds:.3f} s per try-on, "
                         f"{1 / seconds:.2f} try-ons/s, garment preparation and PNG writing included.")
        print("\n".join(notes))
        if args.write:
            command = command_line("bench/serve.py")
            write_section(args.write, HEADING, section(command, lines, notes, machine_line))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
