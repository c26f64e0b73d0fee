# Quick start: `make demo` runs napari-cuts on a bundled sample; `make test` runs the tests.
# Both create .venv and install what they need (torch's CPU wheel first, then the package).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test install benchmarks screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[testing]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/napari-cuts demo -o demo-output

test: $(STAMP)
	XDG_RUNTIME_DIR=$${XDG_RUNTIME_DIR:-/tmp/runtime-$$(id -u)} QT_QPA_PLATFORM= \
		$(BIN)/python -m pytest -q -p no:cacheprovider

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python benchmarks/quality.py

screenshots: $(STAMP)
	$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) demo-output
