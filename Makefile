# Developer entry points. README.md documents `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up down status test test-unit test-clock lint crd clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Bring the whole system up locally on a kind cluster whose node image is built here
## (docs/kind.md): the Helm release, metrics-server, a fake CoreHub and a sample ChronosJob.
## Run again, it restarts only what died. REST API on 127.0.0.1:8088
## (CHRONOS_DEVCLUSTER_API_PORT=<port> make up to change it).
up: $(STAMP)
	$(BIN)/python -m chronos.devcluster up

## Delete the kind cluster (its ChronosJobs with it) and everything `up` started.
down: $(STAMP)
	$(BIN)/python -m chronos.devcluster down

## Whether each part of the system runs and answers.
status: $(STAMP)
	$(BIN)/python -m chronos.devcluster status

## Static checks: lint, format, strict typing, import boundaries.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src operator runner api kubectl dev tests bench
	$(BIN)/lint-imports

## Every test, against a real local control plane and a kind cluster (both built first,
## then cached: `build` makes the binaries, kind's node image and the project's images).
test: lint
	$(BIN)/python -m chronos.devcluster build
	$(BIN)/pytest -n 3 --no-loadscope-reorder --durations=40

## The unit tests only: no control plane, no Go (tests/unit/: tests without the `cluster`
## marker; tests/conftest.py refuses a test that uses the control plane without it).
test-unit: $(STAMP)
	$(BIN)/pytest -m "not cluster" -n auto

## The unit tests and the facade's cluster modules with the test process's clock shifted
## (libfaketime) to a Saturday night, a Sunday, New Year's Eve and two clock changes
## (tests/clockshift.py; tests/README.md says what runs how).
test-clock: $(STAMP)
	$(BIN)/python -m chronos.devcluster build
	$(BIN)/python tests/clockshift.py

## Regenerate the CRD from the models (and the Helm chart's copy of it).
crd: $(STAMP)
	for crd in chronosjobs chronoscalendars chronoschannels; do \
	  $(BIN)/python -m chronos.models.crd $$crd > deploy/crd/$$crd.yaml && \
	  cp deploy/crd/$$crd.yaml charts/chronos/crds/$$crd.yaml || exit 1; \
	done

clean:
	rm -rf $(VENV) .devcluster .mypy_cache .ruff_cache .pytest_cache .hypothesis
