# Two commands do all set-up on a fresh machine (Python 3.11 and pip):
#   make pipeline   install, then run the whole DVC pipeline (embedded synthetic data unless
#                   a real data set is at ingest.source)
#   make test       install, then run the test suite
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup pipeline test lock

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# The raw data is DVC-tracked when it lies inside the repository, so that the repository copies
# that `dvc exp run --temp/--queue` work in can have it too.
pipeline: setup
	$(BIN)/ferpipe synthesize --if-missing
	@for file in $$($(BIN)/python -c 'from ferpipe.config import load_config; c = load_config().ingest; print(c.source, c.ferplus_votes)'); do \
	  case "$$file" in /*|../*) echo "$$file is outside the repository: not DVC-tracked";; \
	    *) if [ -e "$$file" ]; then $(BIN)/dvc add --quiet "$$file"; fi;; esac; done
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc metrics show

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

# Re-resolve the pinned stack after changing pyproject.toml.
lock:
	$(BIN)/pip freeze --exclude-editable --exclude ferpipe > requirements.lock
