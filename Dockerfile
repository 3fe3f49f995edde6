# One image for every role: KFP components, training pods and the TorchServe server.
FROM python:3.11-slim

# TorchServe needs a JVM; libgl is not needed because OpenCV is the headless build.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tryon
COPY pyproject.toml README.md ./
COPY tryon ./tryon
RUN pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir .

COPY params.yaml ./
RUN useradd --create-home --uid 1000 tryon
USER tryon
ENTRYPOINT ["tryon"]
CMD ["--help"]
