# Quick start: `make demo` (install + run the sample), `make test` (install + run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-slow install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1
	$(PY) -m pip install -e '.[train,runtime,mcu,dev,docs]' >> $(VENV)/install.log 2>&1 || { tail -30 $(VENV)/install.log; exit 1; }
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/edgekit build samples/mnist_cnn.toml --out out/mnist_cnn

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(VENV)/.installed
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) out build dist *.egg-info
