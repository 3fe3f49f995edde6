# One image for every role: the KFP components, the training pods (PyTorchJob) and TorchServe.
#
#   docker build -t ghcr.io/tryon-project/tryon:0.1.0 .                                # CPU torch
#   docker build --build-arg TORCH_VARIANT=cu126 -t ghcr.io/tryon-project/tryon:0.1.0-cuda .
#
# TORCH_VARIANT names a PyTorch wheel index (cpu, cu126, cu128, ...): the CUDA wheels bring their own
# CUDA libraries, so both variants share this base; the node's driver comes in through the NVIDIA
# container toolkit.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the chosen index; the package's own pin (torch==2.13.0) then accepts it as is.
RUN pip install "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tryon ./tryon
# The package itself: its dependencies are pinned in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[serve,pipeline,dvc]" \
    && python -c "import tryon.cli, tryon.serve.handler, kfp, dvc"

FROM ${PYTHON_IMAGE} AS runtime
# TorchServe's frontend needs a JVM; OpenCV is the headless build, so no libGL. The JRE follows the
# base image's Debian release (bookworm), which fixes its version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/tryon
COPY params.yaml ./
COPY serving ./serving
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin tryon
USER 1000:1000
# KFP components, the PyTorchJob (torchrun) and the Deployment (torchserve) each set their own command.
ENTRYPOINT ["tryon"]
CMD ["--help"]
