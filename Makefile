# Quick start: `make demo` runs napari-cuts on a bundled sample; `make test` runs the tests.
# Both create .venv and install what they need (torch's CPU wheel first, then the package).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
# torch's CPU build comes from PyTorch's CPU wheel index, given to pip as an *extra* index:
# where that index cannot be reached, pip warns and installs from its default index.
# CUDA: make demo TORCH_INDEX=https://download.pytorch.org/whl/cu128 (the index for your
# CUDA version); TORCH_INDEX= (empty) uses only pip's own index.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
STAMP := $(VENV)/.installed

.PHONY: demo view test install benchmarks screenshots clean

# pip shows its progress: a first install takes 2-3 minutes (about 1.7 GB in the venv).
PIP := $(BIN)/python -m pip install --progress-bar on --disable-pip-version-check

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "== 1/3 upgrading pip"
	$(PIP) --upgrade pip
	@echo "== 2/3 installing $(TORCH) first$(if $(TORCH_INDEX), (from $(TORCH_INDEX)))"
	$(PIP) $(TORCH) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	@echo "== 3/3 installing napari-cuts with napari, a Qt binding and the test tools"
	$(PIP) -e ".[testing]"
	@echo "== installed into $(VENV)"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/napari-cuts demo -o demo-output
	@echo "== open the result in napari: make view"

# The demo's photo with its levels (napari's dims slider is the level slider).
view: $(STAMP)
	@test -f demo-output/retina.cuts || $(MAKE) demo
	$(BIN)/napari demo-output/retina.png demo-output/retina.cuts

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
