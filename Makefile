# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up first.
# Without make (Windows, or any system): the same steps with Python alone, README "Set-up".
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A matching torch/torchvision pair (torchvision must be built against the same torch).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# Where torch comes from: unset, the registry's default (on Linux the large CUDA build);
# TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU build where that is reachable.
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
# What a class needs (the notebooks, widgets, plots) and what developers add (tests, lint,
# browser, clips): `make demo` and `make lab` install the first, `make test` both.
CLASS_EXTRAS := class
DEV_EXTRAS := dev,video,flow

# Use ../shared/images (when it exists) as a pre-filled example-image cache: no test downloads.
ifneq ($(wildcard ../shared/images/SOURCES.md),)
export NST_EXAMPLES_DIR ?= $(abspath ../shared/images)
endif

.PHONY: setup setup-dev demo test test-unit test-notebooks test-browser lint bench bench-quick \
	lab student answer-key clean

setup: $(VENV)/.installed-class
setup-dev: $(VENV)/.installed-dev

# $(1): the extras to install with the kit (editable), after torch from $(TORCH_INDEX).
define install
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python 3.11+ is needed (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip --quiet
	$(PY) -m pip install --quiet $(TORCH_FROM) $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[$(1)]' $(TORCH_PINS)
	@$(PY) -c 'import torchvision' || { echo "error: torchvision does not import; see README"; exit 1; }
	@touch $@
endef

$(VENV)/.installed-class: pyproject.toml
	$(call install,$(CLASS_EXTRAS))

$(VENV)/.installed-dev: pyproject.toml
	$(call install,$(DEV_EXTRAS))

# `nst demo`: The Starry Night (or, offline, the bundled 'swirls') on the bundled cat photo.
demo: setup
	$(VENV)/bin/nst demo

lint: setup-dev
	$(VENV)/bin/ruff check .

test-unit: setup-dev
	$(VENV)/bin/pytest -m "not browser" tests

# The sources (course/, every solution in place) under nbval; tests/test_course.py runs the
# student versions (notebooks/) and checks that they are up to date.
test-notebooks: setup-dev
	NST_FAST=1 $(VENV)/bin/pytest --nbval-lax -p no:cacheprovider course

# The browser test runs wherever Chromium is installed (.ci/run installs it).
BROWSER_TESTS := $(if $(wildcard /usr/bin/chromium),test-browser)

test-browser: setup-dev
	NST_FAST=1 $(VENV)/bin/pytest -m browser tests/test_browser.py

test: lint test-unit test-notebooks $(BROWSER_TESTS)

# Benchmarks of the engine on this machine (issue 6); results go to benchmarks/results/.
# `make bench` runs every part, notebooks at class settings included (~50 min on 2 cores).
bench: setup-dev
	$(PY) -m benchmarks.run --notebooks

bench-quick: setup-dev
	$(PY) -m benchmarks.run --quick

lab: setup
	$(VENV)/bin/jupyter lab notebooks

# The student versions in notebooks/, from the sources in course/ (nbgrader's ClearSolutions).
student: setup-dev
	$(PY) -m course.build student

# The instructor's answer key: every source run at class settings, as HTML in answer-key/.
answer-key: setup-dev
	$(PY) -m course.build key

clean:
	rm -rf outputs test-output answer-key .pytest_cache
