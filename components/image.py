"""The image every component runs in: the root Dockerfile's, which holds the `tryon` package.

Kept in one place so that a release changes one line; k8s/ names the same image for training jobs
and serving (its overlays retag it with kustomize `images:`).
"""

BASE_IMAGE = "ghcr.io/tryon-project/tryon:0.1.0"
