# The image the Prefect work-pool deployments run (`prefect deploy --all` with prefect.yaml, or
# `python -m flows.deploy --pool <pool> --image <name:tag> --project /app`): this repository at /app, a git checkout
# (the scheduled run clones it into its workspace), with the main venv's packages at the lock's versions. The
# pipeline runs on the CPU build of torch (the lock's torch==2.13.0, from PyTorch's CPU index); a GPU image swaps the
# index for a CUDA one and sets `profile: gpu` (docs/gpu.md).
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
COPY requirements.lock .
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.lock

COPY . .
# a runner's user may differ from the image's owner of /app: let git read the checkout anyway
RUN git config --system --add safe.directory /app

CMD ["python", "-m", "flows.pipeline", "--project", "/app"]
