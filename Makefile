PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The widget scripts are built from widget_static/src/ by esbuild (widget_static/package.json).
WIDGET := widget_static

.PHONY: install widget run test bench clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# npm ci again only when the lock file changed, as the venv's stamp does for requirements.txt.
# esbuild's install script is not needed: its binary comes in a package of its own.
$(WIDGET)/node_modules/.installed: $(WIDGET)/package-lock.json
	npm ci --prefix $(WIDGET) --ignore-scripts --no-audit --no-fund
	touch $@

# Built every time (well under a second): it prints each script's minified and gzip size,
# and fails when one is over the budget.
widget: $(WIDGET)/node_modules/.installed
	npm run --prefix $(WIDGET) --silent build

install: $(BIN)/.installed widget

run: install
	./deploy/run-local.sh

# Two pytest-xdist workers, each with its own test database and Redis key prefix
# (chatorical/settings_test.py); tests marked xdist_group run on one worker together.
PYTEST_ARGS ?= -n 2 --dist loadgroup

test: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var staticfiles $(WIDGET)/node_modules $(WIDGET)/static
