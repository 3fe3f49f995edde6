"""The `tryon` command line: a thin layer over the package.

Each command group lives in its own module and registers itself on the shared application when
imported. Heavy modules (torch, OpenCV) are imported inside the commands so that `tryon --help`
stays instant.
"""

# Unsorted on purpose: the modules register their commands in `tryon --help`'s order.
from tryon.cli import data, run, serve  # noqa: F401, I001  (registers the commands)
from tryon.cli import pipeline  # noqa: F401  (registers `tryon pipeline` and `tryon demo`)
from tryon.cli import batches  # noqa: F401  (registers `tryon data fetch`, `add-batch`, `pin-synthetic`)
from tryon.cli.app import app

__all__ = ["app"]
