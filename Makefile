# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo

.PHONY: demo test venv clean

venv: $(STAMP)

# The standard PyPI build of torch + torchvision (runs on CPU; see README "Installation").
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(PY) train.py fit --config configs/default.yaml --trainer.default_root_dir $(DEMO_DIR)
	$(PY) analyze.py --ckpt $(DEMO_DIR)/checkpoints/last.ckpt --out $(DEMO_DIR)/analysis

test: $(STAMP)
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs .cache .pytest_cache
