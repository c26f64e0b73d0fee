# Quick start: `make demo` runs napari-cuts on a bundled sample; `make test` runs the tests.
# Both create .venv and install what they need (torch's CPU wheel first, then the package).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test install benchmarks screenshots clean

# pip shows its progress: a first install takes 2-3 minutes (about 1.7 GB in the venv).
PIP := $(BIN)/python -m pip install --progress-bar on --disable-pip-version-check

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "== 1/3 upgrading pip"
	$(PIP) --upgrade pip
	@echo "== 2/3 installing $(TORCH) first (the CPU build)"
	$(PIP) $(TORCH)
	@echo "== 3/3 installing napari-cuts with napari, a Qt binding and the test tools"
	$(PIP) -e ".[testing]"
	@echo "== installed into $(VENV)"
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
