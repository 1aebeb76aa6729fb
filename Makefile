# Two commands do all set-up on a fresh machine:
#   make run    install into .venv (first time) and run the bot; without DISCORD_TOKEN it says what to set
#   make test   install into .venv (first time) and run the whole test suite
#   make bench  the load benchmarks (README "Benchmarks"); make bench-quick for a smoke check
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[postgres,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check bot providers

format: $(STAMP)
	$(BIN)/ruff format bot providers tests
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
