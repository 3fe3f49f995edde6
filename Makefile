# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Each creates the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch is pinned here and in pyproject.toml; torchvision is deliberately absent.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[serve,pipeline,dvc,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tryon pipeline run --local --params params.yaml --out runs/demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf runs .pytest_cache
