# GroupChat: `make run` serves on http://127.0.0.1:3001, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: setup run test test-unit test-pg test-e2e lint format browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: setup
	BIND_ADDR="$${BIND_ADDR:-127.0.0.1:3001}" $(BIN)/groupchat serve

# Every test: server tests on SQLite, then the browser tests (Chromium is installed if missing).
test: setup browser
	$(BIN)/pytest -q -m "not e2e" -p no:cacheprovider
	$(BIN)/pytest -q -m e2e -p no:cacheprovider tests/e2e

# The storage-touching tests again, on PostgreSQL.
test-pg: setup
	TEST_DATABASE_URL="$(PG_URL)" $(BIN)/pytest -q -m "not e2e" -p no:cacheprovider

test-e2e: setup browser
	$(BIN)/pytest -q -m e2e -p no:cacheprovider tests/e2e

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

browser:
	@scripts/ensure-chromium

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
