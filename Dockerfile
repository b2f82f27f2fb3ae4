# The image the Prefect work-pool deployments run (`prefect deploy --all` with prefect.yaml, or
# `python -m flows.deploy --pool <pool> --image <name:tag> --project /app`): this repository at /app, a git checkout
# (the scheduled run clones it into its workspace), with the main venv's packages at the lock's versions and the
# project installed, its commands too. The pipeline runs on the CPU build of torch (the lock's torch==2.13.0+cpu); a
# GPU image swaps it for a CUDA build and sets `profile: gpu` (docs/gpu.md).
#
#   docker build -t registry.example.com/anime:$(git rev-parse --short HEAD) .
FROM python:3.11-slim

# git: the workspace clone and DVC; libgl/glib: OpenCV's runtime (the headless build still links them)
RUN apt-get update \
    && apt-get install -y --no-install-recommends git libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DO_NOT_TRACK=1

WORKDIR /app
# every package at the lock's version and hash; torch==2.13.0+cpu from PyTorch's CPU builds (on this project's
# machines pip finds it in /opt/wheels; should the hash of PyTorch's file differ, run `make lock-deps` where the
# image is built)
COPY requirements.lock .
RUN pip install --no-cache-dir --no-deps --require-hashes --find-links https://download.pytorch.org/whl/cpu/torch/ \
    -r requirements.lock

COPY . .
RUN pip install --no-cache-dir --no-deps -e .
# a runner's user may differ from the image's owner of /app: let git read the checkout anyway
RUN git config --system --add safe.directory /app

CMD ["python", "-m", "flows.pipeline", "--project", "/app"]
