# The two commands a newcomer runs: `make run` and `make test`. Both create the environment first.
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint typecheck unit bench env clean

env: $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

run: env
	$(VENV)/bin/platform serve

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: env
	$(VENV)/bin/mypy

test: env lint typecheck
	$(VENV)/bin/pytest -n 2 --dist loadfile  # two workers, a test file each: every test makes its own databases

unit: env
	$(VENV)/bin/pytest tests/unit

bench: env
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) .tools var
