# zoolab — developer entry points. Only Python 3.10+ and pip are needed; everything else is installed
# into .venv from the package registries.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.zoolab-installed
# Where `make demo` keeps its local registry, so the demo never touches ~/.zoolab.
DEMO_HOME ?= $(CURDIR)/.zoolab-demo
PYTEST_ARGS ?=

.PHONY: test demo venv bench gpu-check clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all,dev]"
	touch $(STAMP)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadgroup -m "not slow and not gpu" --timeout 1200 $(PYTEST_ARGS)

demo: $(STAMP)
	ZOOLAB_HOME=$(DEMO_HOME) HF_HOME=$(DEMO_HOME)/hf HF_HUB_OFFLINE=1 $(PY) -m zoolab.demo

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[all,dev,bench]"
	@echo "Run a benchmark: $(PY) benchmarks/<name>.py (see benchmarks/README.md)"

# Every gpu-marked test and short GPU benchmark rows into benchmarks/RESULTS.md (one GPU, < 8 min);
# without a GPU it runs the CPU-side checks and exits 1 with one line saying so.
gpu-check: $(STAMP)
	$(PY) -c "import stable_baselines3" 2>/dev/null || $(PY) -m pip install --quiet -e ".[all,dev,bench]"
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache build *.egg-info
