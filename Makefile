# The few commands a newcomer types. Each makes .venv on first use (from requirements.lock) and reuses it after.
VENV := .venv
STAMP := $(VENV)/.installed
# Python writes bytecode (the project's beside it in __pycache__/, which .gitignore and .dvcignore leave out; the
# venv's packages', which tools/install.py warms for what the code imports, in .venv) even where the shell sets
# PYTHONDONTWRITEBYTECODE: each stage is a process of its own, which would otherwise compile the same modules again
# every time it starts
unexport PYTHONDONTWRITEBYTECODE
RUN := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" DO_NOT_TRACK=1
PYTHON ?= python3
# pytest workers of make test and test-fast (pytest-xdist; tests/conftest.py groups them); 0: the tests in one process
TEST_WORKERS ?= 2
PYTEST := python -m pytest -n $(TEST_WORKERS) --dist loadgroup

.PHONY: pipeline test setup test-fast docs lock lock-deps lock-labelstudio labelstudio-venv alerts mlflow mlflow-server labelstudio label-sync serve prefect-server schedule contact-sheet lint clean-outputs

$(STAMP): requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PYTHON) -m tools.install --venv $(VENV)
	touch $(STAMP)

## the whole pipeline on the built-in data, on the CPU (profile from params.yaml, `cpu` by default)
pipeline: $(STAMP)
	$(RUN) python -m stages.source
	$(RUN) dvc repro

## every test, the real services included, after making the venvs they need
test: setup
	$(RUN) $(PYTEST)

## the venvs make test needs: .venv, then Label Studio's (.venv-labelstudio), which .venv's uv installs
setup: $(STAMP)
	$(RUN) python -m labeling.server venv

## Label Studio's own venv (.venv-labelstudio) from its lock; needs only python3 (make labelstudio makes it too)
labelstudio-venv:
	$(PYTHON) -m labeling.server venv

## the quick subset for the edit loop (no whole-pipeline or service tests)
test-fast: $(STAMP)
	$(RUN) $(PYTEST) -m "not slow"

## the documentation site (mkdocs.yml, docs/) on 127.0.0.1 (DOCS_PORT, default 8001); make test builds it with --strict
docs: $(STAMP)
	$(RUN) NO_MKDOCS_2_WARNING=1 mkdocs serve -a 127.0.0.1:$${DOCS_PORT:-8001}

## refresh source.lock.json and pose_source.lock.json after changing ingest.sources, label.pose_source or their files
lock: $(STAMP)
	$(RUN) python -m stages.source

## re-resolve requirements.lock (every package of .venv, with hashes) from pyproject.toml with uv (python -m tools.lock --upgrade lets versions move)
lock-deps: $(STAMP)
	$(RUN) python -m tools.lock

## re-resolve Label Studio's venv lock (labeling/requirements-labelstudio.lock) from labeling/requirements-labelstudio.txt
lock-labelstudio: $(STAMP)
	$(RUN) python -m labeling.server lock

## the MLflow server and UI over the local store (mlruns/) on 127.0.0.1 (MLFLOW_PORT, default 5000)
mlflow: $(STAMP)
	$(RUN) python -m core.mlflow_server

## the MLflow server on a project-local PostgreSQL (services/postgres, port 5433; services/mlflow-artifacts)
mlflow-server: $(STAMP)
	$(RUN) python -m core.mlflow_server --postgres

## Label Studio on 127.0.0.1 (its own venv .venv-labelstudio, made on first use; LABEL_STUDIO_PORT, default 8080;
## LABEL_STUDIO_BIND=0.0.0.0 listens on the network (plain HTTP: warned), LABEL_STUDIO_HOST=https://... behind a TLS proxy)
labelstudio: $(STAMP)
	$(RUN) python -m labeling.server start

## push new images (with pre-annotations) to Label Studio, then pull finished annotations into labeling/exports/
label-sync: $(STAMP)
	$(RUN) python -m labeling.sync push && $(RUN) python -m labeling.sync pull

## the artist's page and the API on 127.0.0.1 (SERVE_PORT, default 8000) over data/deploy (the deploy stage)
serve: $(STAMP)
	$(RUN) python -m serve --port $${SERVE_PORT:-8000}

## the local Prefect server and UI on 127.0.0.1 (PREFECT_PORT, default 4200; data in services/prefect)
prefect-server: $(STAMP)
	$(RUN) python -m flows.server

## serve the flows with their schedules from params.yaml (flows:) to that server: nightly pipeline, label sync
schedule: $(STAMP)
	$(RUN) PREFECT_HOME=$(CURDIR)/services/prefect PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:$${PREFECT_PORT:-4200}/api} \
	  python -m flows.schedule

## post to a webhook when a pipeline run fails or label syncs keep failing (Prefect automations; WEBHOOK=https://...)
alerts: $(STAMP)
	$(RUN) PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:$${PREFECT_PORT:-4200}/api} \
	  python -m flows.alerts --webhook "$(WEBHOOK)"

## the README's 8x8 contact sheets: the generated faces and the pose kinds
contact-sheet: $(STAMP)
	$(RUN) python -m synth.faces --contact-sheet docs/contact_sheet.png
	$(RUN) python -m synth.pose.poseset --contact-sheets docs/

lint: $(STAMP)
	$(RUN) ruff check . && $(RUN) ruff format --check .
