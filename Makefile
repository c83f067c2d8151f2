# lyricseg developer commands. Set-up on a fresh clone: `make train` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0
# The corpora beside the repository: DATA/lyrics (main), DATA/extra (with section headers) and
# DATA/stanzas (stanza breaks, no labels).
DATA ?= ../shared/data

.PHONY: install train test test-all lint format bench pretrained clean

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

bench: $(STAMP) ## cross-validated quality, seed spread and speed on $(DATA) (writes bench-results/, docs/results.md, README block)
	$(PY) -m benchmarks.run --corpus $(DATA)/lyrics --extra $(DATA)/extra $(DATA)/stanzas \
		--model-seeds 0,1,2 $(ARGS)

# The shipped model: the recommended recipe on the corpora beside the repository.
PRETRAINED := src/lyricseg/pretrained/lyricseg-base.ckpt
pretrained: $(STAMP) ## train the shipped model on $(DATA)/lyrics + extra + stanzas into $(PRETRAINED)
	run=logs/pretrained/$$(date +%Y-%m-%d_%H-%M-%S) && \
	$(PY) train.py experiment=lyrics_best data.data_dir=$(DATA)/lyrics \
		'data.extra_dirs=[$(DATA)/extra,$(DATA)/stanzas]' seed=0 torch_threads=1 \
		hydra.run.dir=$$run $(ARGS) && \
	cp $$run/checkpoints/best.ckpt $(PRETRAINED).tmp && mv $(PRETRAINED).tmp $(PRETRAINED) && \
	echo "wrote $(PRETRAINED) from $$run"

clean:
	rm -rf .cache logs bench-results .pytest_cache .ruff_cache
