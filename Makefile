# Everything a fresh machine needs: `make demo` and `make test` are the only commands a user types.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test fuzz lint matrix bench emulator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[django,redis,arrow,polars,metrics,otel,gateway,dev]'
	@command -v redis-server >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq redis-server) || echo "redis-server not installed: Redis tests need REDIS_URL"
	@command -v prometheus >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq prometheus) || echo "prometheus not installed: the dashboard test is skipped"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/legacy-api demo

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The property tests of tests/fuzz with FUZZ_FACTOR (default 20) times their `make test`
# examples: about 300,000 generated cases.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/fuzz $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# The CI matrix (noxfile.py): latest stack, pyERP's pinned stack (Python 3.11, pandas 2.2,
# Django 5.1, redis 5, no pyarrow, no extras) and a bare install; NOX_ARGS picks sessions.
NOX_ARGS ?=
matrix: $(STAMP)
	$(BIN)/nox $(NOX_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

emulator: $(STAMP)
	$(BIN)/legacy-api emulator --port 8080

clean:
	rm -rf $(VENV) .nox build dist .pytest_cache .mypy_cache .ruff_cache
