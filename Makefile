# lyricseg developer commands. Set-up on a fresh clone: `make train` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0

.PHONY: install train test test-all lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU wheel first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[dev,sweeps]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install lyricseg (editable) with its dev and sweep tools

train: $(STAMP) ## train on the embedded generated corpus
	$(PY) train.py $(ARGS)

test: $(STAMP) ## the default (fast) test suite
	$(PY) -m pytest $(ARGS)

test-all: $(STAMP) ## every test, slow ones included
	$(PY) -m pytest -m "" $(ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) ## speed and quality benchmarks (writes bench-results/)
	$(PY) -m benchmarks.run $(ARGS)

clean:
	rm -rf .cache logs bench-results .pytest_cache .ruff_cache
