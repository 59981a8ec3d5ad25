# Everything a fresh machine needs: `make demo` and `make test` are the only commands a user types.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test fuzz lint matrix bench emulator docs docs-serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[django,redis,arrow,polars,metrics,otel,postgres,amqp,typed,celery,docs,gateway,dev]'
	@command -v redis-server >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq redis-server) || echo "redis-server not installed: Redis tests need REDIS_URL"
	@command -v prometheus >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq prometheus) || echo "prometheus not installed: the dashboard test is skipped"
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) || echo "chromium not installed: the docs browser test is skipped"
	touch $(STAMP)

# Mermaid for the site's diagrams, served with the site so they render offline (Material
# would load it from a CDN); the official npm package, pinned (ADR 0033).
MERMAID_VERSION := 11.12.0
MERMAID_JS := docs/assets/javascripts/mermaid.min.js
$(MERMAID_JS):
	@mkdir -p $(dir $@)
	@tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null \
	  && tar xzf mermaid-$(MERMAID_VERSION).tgz package/dist/mermaid.min.js) \
	  && mv $$tmp/package/dist/mermaid.min.js $@; rm -rf $$tmp; \
	  test -f $@ || echo "npm not available: the site's diagrams load Mermaid from its CDN"

install: $(STAMP) $(MERMAID_JS)

demo: $(STAMP)
	$(BIN)/legacy-api demo

test: $(STAMP) $(MERMAID_JS)
	$(BIN)/pytest $(PYTEST_ARGS)

# The property tests of tests/fuzz with FUZZ_FACTOR (default 20) times their `make test`
# examples: about 300,000 generated cases.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/fuzz $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
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

# The documentation site (mkdocs.yml, ADR 0033): built strictly into site/, or served with
# live reload on http://127.0.0.1:8000. MkDocs' and Material's maintenance banners are off.
DOCS_ENV := NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true
docs: $(STAMP) $(MERMAID_JS)
	$(DOCS_ENV) $(BIN)/mkdocs build --strict

docs-serve: $(STAMP) $(MERMAID_JS)
	$(DOCS_ENV) $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

clean:
	rm -rf $(VENV) .nox build dist site .pytest_cache .mypy_cache .ruff_cache
