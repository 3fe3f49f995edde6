"""Data and model versioning with DVC: datasets at a revision, garment batches, stage dependencies.

Heavy imports (DVC itself) happen inside the functions, so that importing this package is cheap.
"""

from tryon.versioning.fetch import fetch_dataset, resolve_revision

__all__ = ["fetch_dataset", "resolve_revision"]
