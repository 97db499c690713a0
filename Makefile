# `make run` and `make test` create the virtualenv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check clean helm

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,postgres,mysql,redis,deploy,sentry]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pizza-api serve

# The real helm binary, pinned by version and sha256, for the chart tests.
tools/helm: scripts/install-helm.sh
	PYTHON=$(PYTHON) scripts/install-helm.sh

helm: tools/helm

test: $(STAMP) tools/helm
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/pizza-api check

lint: $(STAMP)
	$(BIN)/ruff check pizza_api handlers tests

clean:
	rm -rf $(VENV) .pytest_cache
