# Model Studio: the only two commands a user needs are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots clean

# The CPU build of torch lies on this machine kind's disk (pip find-links); installing it
# first keeps the plain `torch>=2.4` requirement from pulling a multi-GB CUDA build.
# On a CUDA machine, set TORCH_SPEC=torch to get the default CUDA build instead.
TORCH_SPEC ?= torch==2.13.0

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	# llama-cpp-python compiles llama.cpp from source here (about 7 minutes on 2 cores; pip caches the wheel).
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	@# Qt's xcb plugin needs a few X libraries a minimal Linux lacks: say which, up front
	$(BIN)/python -m studio.xcb_check
	$(BIN)/studio gui

lint: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP)
	$(BIN)/lint-imports
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

# Tests save screenshots to a temp folder; this regenerates docs/screenshots/ on purpose
# (each test builds its own demo home; the status bar shows this machine's real device line).
screenshots: $(STAMP)
	STUDIO_SCREENSHOTS=$(CURDIR)/docs/screenshots QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 \
		$(BIN)/python -m pytest -q tests/ui

bench: $(STAMP)
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) .pytest_cache
