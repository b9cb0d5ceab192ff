# Two commands do all set-up: `make run` starts the bot, `make test` runs every check.
# Both create .venv with the project installed when it is missing or pyproject.toml changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run staff test lint typecheck check unit browser-deps models rasa rasa-install benchmark catalogs clean

# uv (from PyPI) installs the same packages as pip several times faster (parallel downloads and
# unpacking); scripts/rasa.sh uses it too. pip stays in the venv for whoever prefers it.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5,<1'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/newcomer-bot run

# The staff console on http://127.0.0.1:8080/ (create an account first: newcomer-bot staff-user add).
staff: $(STAMP)
	$(BIN)/newcomer-bot staff

# The checks and the two other installs (Rasa's venv, Chromium) run side by side: the installs
# mostly wait for downloads. Then the test suite, spread over the cores.
test: $(STAMP)
	$(MAKE) --no-print-directory -j3 --output-sync=target lint typecheck check rasa-install browser-deps models
	$(MAKE) --no-print-directory unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/newcomer-bot check

# pytest lists the 15 slowest tests (pyproject.toml); the real-Rasa tests train a small fixture
# model (tests/fixtures/rasa, about a minute, cached in var/rasa/fixture-models), never the full one.
# pytest-xdist runs one worker per core (at most 4), a test file on one worker: the Rasa tests (run
# first, tests/conftest.py) train the fixture model once while the other workers run the rest.
unit: $(STAMP) rasa-install browser-deps models
	$(BIN)/pytest --numprocesses=auto --maxprocesses=4 --dist=loadfile

# The staff console's browser tests (marker `browser`) drive Debian's Chromium. Installed once,
# only when missing and only as root; otherwise those tests are skipped with a note.
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "note: chromium and chromium-driver are missing (run 'make browser-deps' as root); browser tests will be skipped"; fi

# Every city's embedded model, cached in var/models (the bot and the tests load it from there):
# trained once here rather than by each pytest worker at the same time.
CITIES := $(notdir $(patsubst %/city.yml,%,$(wildcard responses/*/city.yml)))
models: $(STAMP)
	@for city in $(CITIES); do $(BIN)/newcomer-bot train --city $$city || exit 1; done

# The Rasa server used by the integration tests and by `benchmarks/compare_rasa.py`.
rasa-install: $(STAMP)
	bash scripts/rasa.sh install

rasa:
	bash scripts/rasa.sh all

benchmark: $(STAMP)
	$(BIN)/python benchmarks/nlu_speed.py

# For translators: refresh the template and every catalog after UI strings changed in the code.
catalogs: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project=newcomer-bot \
		--copyright-holder="newcomer-bot contributors" -o bot/locale/messages.pot .
	$(BIN)/pybabel update -i bot/locale/messages.pot -d bot/locale --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) var/models .pytest_cache .mypy_cache .ruff_cache
