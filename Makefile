# Two commands do all set-up on a fresh machine (Python 3.11 and pip):
#   make pipeline   install, then run the whole DVC pipeline (the embedded synthetic data and the
#                   smoke recipe by default; see conf/ and README.md for the real data)
#   make test       install, then run the whole test suite (what CI runs)
#   make test-fast  the unit tests without the slow ones, for the edit-test loop
#   make lint       the code's lint, format and type checks (ruff, mypy), which CI runs before the tests
#   make docs       the manual in docs/, built strictly with MkDocs (CI builds it too)
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"

.PHONY: setup pipeline test test-fast lint docs params plots-template lock

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

pipeline: setup
	$(RUN) dvc repro
	@$(RUN) ferpipe summary

test: setup
	$(RUN) python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(RUN) python -m pytest -m "not slow" $(PYTEST_ARGS)

# Ruff's checks as pyproject.toml chooses them (pyflakes, import order, pyupgrade, bugbear, version checks),
# its formatting, and mypy (strict in the core and the stages).
lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The manual (docs/, mkdocs.yml) into build/docs; strict: a broken link or an unlisted page fails.
docs: setup
	$(BIN)/mkdocs build --strict

# Compose params.yaml from conf/ after editing it, as `dvc exp run` does before every experiment.
params: setup
	$(BIN)/python -c 'import os; from dvc.utils.hydra import compose_and_dump; \
	compose_and_dump("params.yaml", os.path.abspath("conf"), None, "config", os.getcwd(), [])'

# Rebuild plots/offline.html (DVC's plots page with Vega inlined) from the npm registry.
plots-template: setup
	$(BIN)/python plots/make_template.py

# Re-resolve the pinned stack after changing pyproject.toml.
lock:
	$(BIN)/pip freeze --exclude-editable --exclude ferpipe > requirements.lock
