# half — the README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean

install: $(STAMP)

# A fresh .venv with the project and its test tools (torch==2.13.0 comes from the local wheel store).
# --no-compile: pip would byte-compile every installed module in one process (about 50 s);
# Python compiles what is imported, once, on first use, and keeps the .pyc files...
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e ".[dev]"
	touch $(STAMP)

# ... unless PYTHONDONTWRITEBYTECODE is set (as on our development machines): then every `half`
# process and test worker compiled torch and brevitas again on each import (pytest in make test:
# 583 s on a fresh clone against 474 s with the .pyc files). The recipes here write them.
unexport PYTHONDONTWRITEBYTECODE

# The main job on the embedded default: prepare the default task, evaluate the shipped tiny
# model on its test split, check the integer golden model against it, fold it for an iCE40
# UP5K at the low-energy goal, generate its RTL and verify it with Verilator on real windows;
# then the whole chain with `half run` on a small budget (4 search trials at low fidelity, the
# first two the task's presets; the front and the reference preset:tiny retrained on a quarter
# of the training windows for one epoch): search, choice on validation
# metrics, test split, golden model, RTL, Verilator, Yosys/nextpnr and the HTML report in
# build/demo-run/report/index.html (a second `make demo` reuses every stage).
DEMO := build/demo-tiny-up5k
DEMO_RUN := build/demo-run
demo: $(STAMP)
	$(BIN)/half data prepare --task mitdb-aami
	$(BIN)/half eval --model preset:tiny --task mitdb-aami --split test
	$(BIN)/half golden --model preset:tiny --task mitdb-aami --split test
	$(BIN)/half estimate --model preset:tiny --task mitdb-aami --device up5k --goal low-energy
	$(BIN)/half build --model preset:tiny --task mitdb-aami --device up5k --goal low-energy -o $(DEMO)
	$(BIN)/half verify $(DEMO) --windows 50
	$(BIN)/half run --task mitdb-aami --goal low-energy --device up5k --budget 4 \
	    --population 2 --fidelity 0.05 --epochs 1 --precheck bits \
	    --reeval-fidelity 0.25 --reeval-epochs 1 --verify-windows 50 -o $(DEMO_RUN) \
	    || { rc=$$?; [ $$rc -eq 3 ] || exit $$rc; \
	         echo "make demo: the run finished, its answer flagged as suspect (exit 3; expected"; \
	         echo "at this tiny budget: the warnings above and in the report say why)"; }

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
