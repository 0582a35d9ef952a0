# Two commands do all the set-up on a fresh machine:
#   make book   builds the site into _build/html (creating .venv from the pins when missing)
#   make test   runs every test (unit, notebooks through the build, the site in headless Chromium)
# Other targets: make lab (notebooks in JupyterLab), make serve (the built site on localhost),
# make bench (benchmarks), make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: book test lab serve bench browser lock clean

# The environment is rebuilt whenever the pins change.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# Checkers that pin old pandas/numpy are installed without their pins (see requirements-nodeps.txt).
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip check || true
	touch $@

MATHJAX := _static/vendor/mathjax/tex-mml-chtml.js
$(MATHJAX): scripts/fetch_mathjax.py | $(STAMP)
	$(BIN)/python scripts/fetch_mathjax.py

book: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build . --builder html -n -W --keep-going

# Debian's Chromium and ChromeDriver drive the site tests; installed only when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "Installing Debian chromium and chromium-driver for the site tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: $(STAMP) $(MATHJAX) browser
	$(BIN)/python -m pytest

# JupyterLab with jupytext: the MyST Markdown notebooks open as notebooks (double-click).
lab: $(STAMP)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp .jupyter-lab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/jupyter lab notebooks/

serve: book
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Re-resolve requirements.txt from requirements.in in a throw-away environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Every package the book, notebooks and tests use, pinned with ==."; \
	  echo "# Resolved from requirements.in by \`make lock\` (Python 3.11, Linux). Do not edit by hand."; \
	  .lock-venv/bin/python -m pip freeze --exclude pycanon; \
	  echo "# The playbook's own package, editable so notebook readers see code changes at once."; \
	  echo "-e ."; } > requirements.txt
	rm -rf .lock-venv

clean:
	rm -rf _build .pytest_cache .ruff_cache
