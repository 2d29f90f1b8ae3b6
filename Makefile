# Two commands do everything on a fresh machine: `make demo` and `make test` (`make quick`: a
# one-minute first look once the venv exists).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
DEMO_CONFIG ?= configs/default.yaml
DEMO_ANALYZE ?=
QUICK_DIR ?= runs/quick

.PHONY: demo quick test test-fast lint venv clean chromium docs

venv: $(STAMP)

# The standard PyPI build of torch + torchvision (runs on CPU; see README "Installation").
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

# The demo replaces $(DEMO_DIR) only when an earlier `make demo` wrote it (it carries DEMO_MARKER).
DEMO_MARKER := .lightning_pse-demo
demo: $(STAMP)
	@if [ -e "$(DEMO_DIR)" ] && [ ! -f "$(DEMO_DIR)/$(DEMO_MARKER)" ] && [ -n "$$(ls -A "$(DEMO_DIR)")" ]; then \
		echo "error: $(DEMO_DIR) exists and was not written by make demo (no $(DEMO_MARKER)); move it away or run make demo DEMO_DIR=another/folder" >&2; \
		exit 2; \
	fi
	rm -rf $(DEMO_DIR)
	mkdir -p $(DEMO_DIR)
	echo "written by make demo; the next make demo replaces this folder" > $(DEMO_DIR)/$(DEMO_MARKER)
	$(PY) train.py fit --config $(DEMO_CONFIG) --trainer.default_root_dir $(DEMO_DIR)
	$(PY) analyze.py --ckpt $(DEMO_DIR)/checkpoints/last.ckpt $(DEMO_ANALYZE)

# The demo in about a minute: configs/quick.yaml (two short epochs of standard training), then a
# quick analysis (8 images, every attack at its smallest budget): checks an installation end to end.
quick: $(STAMP)
	$(MAKE) --no-print-directory demo DEMO_DIR=$(QUICK_DIR) DEMO_CONFIG=configs/quick.yaml DEMO_ANALYZE=--quick

# The report test renders report.html in headless Chromium (Debian's package; installed when absent).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| (echo "error: the report test needs Chromium: apt-get install chromium" >&2; exit 1)

# The manual (mkdocs.yml): MkDocs with the Material theme and mkdocstrings, in a venv of its own
# (mkdocs-material needs a newer requests than the torchattacks test oracle allows; mkdocstrings
# reads the docstrings statically, so that venv needs no torch). --strict: a broken link, anchor or
# reference fails the build.
DOCS_VENV ?= .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed
$(DOCS_STAMP): Makefile
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install -q "mkdocs-material>=9.5,<10" "mkdocstrings[python]>=0.26"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

# ruff (lint and format check, configured in pyproject.toml), then the suite.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The whole suite: what CI runs (.ci/run).
test: lint chromium docs
	$(PY) -m pytest -q tests

# The edit loop: every test but those marked slow (they train models of their own, run DDP or build
# the wheel); the session's cached model and the tiny train.py run most tests share are still built.
test-fast: $(STAMP) chromium
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) $(DOCS_VENV) site runs .cache .pytest_cache
