# Two commands for a fresh machine with Python 3.11: `make demo` and `make test`.
# Both create .venv and install what they need; re-running skips the install when
# pyproject.toml has not changed.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench mutation clean-catalog

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tradeloom data load-sample
	$(BIN)/tradeloom backtest research/strategies/sma_cross.py:SmaCross \
		--symbols BTC/USDT --timeframe 1h --param fast=10 --param slow=50 \
		--out runs/demo --report runs/demo.html

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Mutation testing of the money-critical engine modules (docs/mutation.md); on demand,
# never part of `make test`. MODULES=fees,sizing runs a subset, JOBS=2 two at a time.
MODULES ?=
JOBS ?= 1
mutation: $(STAMP)
	nice -n 10 $(BIN)/python tools/mutation.py --jobs $(JOBS) $(if $(MODULES),--only $(MODULES))

clean-catalog:
	rm -rf datasets/catalog
