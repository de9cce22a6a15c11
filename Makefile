# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A matching torch/torchvision pair (torchvision must be built against the same torch).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

# Use ../shared/images (when it exists) as a pre-filled example-image cache: no test downloads.
ifneq ($(wildcard ../shared/images/SOURCES.md),)
export NST_EXAMPLES_DIR ?= $(abspath ../shared/images)
endif

.PHONY: setup demo test test-unit test-notebooks test-browser lint bench bench-quick lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python 3.11+ is needed (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip --quiet
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[dev,video,flow]' $(TORCH_PINS)
	@$(PY) -c 'import torchvision' || { echo "error: torchvision does not import; see README"; exit 1; }
	@touch $@

demo: setup
	@style=starry_night; \
	$(VENV)/bin/nst examples fetch starry_night >/dev/null 2>&1 || \
	  { echo "The Starry Night cannot be downloaded here: using the bundled 'swirls' painting."; style=swirls; }; \
	$(VENV)/bin/nst stylize chelsea $$style -o outputs/demo.png --size 256 --steps 200 \
	  --log outputs/demo.json
	@echo "Open outputs/demo.png to see the result (settings and losses: outputs/demo.json)."

lint: setup
	$(VENV)/bin/ruff check .

test-unit: setup
	$(VENV)/bin/pytest -m "not browser" tests

test-notebooks: setup
	NST_FAST=1 $(VENV)/bin/pytest --nbval-lax -p no:cacheprovider notebooks

# The browser test runs wherever Chromium is installed (.ci/run installs it).
BROWSER_TESTS := $(if $(wildcard /usr/bin/chromium),test-browser)

test-browser: setup
	NST_FAST=1 $(VENV)/bin/pytest -m browser tests/test_browser.py

test: lint test-unit test-notebooks $(BROWSER_TESTS)

# Benchmarks of the engine on this machine (issue 6); results go to benchmarks/results/.
# `make bench` runs every part, notebooks at class settings included (~50 min on 2 cores).
bench: setup
	$(PY) -m benchmarks.run --notebooks

bench-quick: setup
	$(PY) -m benchmarks.run --quick

lab: setup
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf outputs test-output .pytest_cache
