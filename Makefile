# Two commands do all the set-up on a fresh machine:
#   make book   builds the site into _build/html (creating .venv from the pins when missing)
#   make test   runs every test (unit, notebooks through the build, the site in headless Chromium)
# Other targets: make check (the light check for prose-only changes), make lab (notebooks in
# JupyterLab), make serve (the built site on localhost), make bench (benchmarks), make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# JupyterLab refuses to run as root (as in a container) unless told to; it listens on loopback.
LAB_ARGS ?=
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# Its kernels listen on Unix-domain sockets in a new private folder, removed when the lab stops,
# not on TCP ports (which any local user could reach, and which ipykernel warns about), as the
# book's build does.
LAB_KERNELS = --KernelManager.transport=ipc --MappingKernelManager.connection_dir="$$sockets"

.PHONY: book test check lab serve bench browser lock clean python-version

# The pins in requirements.txt were resolved for Python 3.11; say so before pip fails obscurely.
python-version:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { \
	  echo "error: this project needs Python 3.11 (requirements.txt is resolved for it), but"; \
	  echo "       '$(PYTHON)' is: $$(command -v $(PYTHON) >/dev/null && $(PYTHON) --version 2>&1 || echo 'not found')."; \
	  echo "       Install Python 3.11 and repeat the command with PYTHON=python3.11 (make PYTHON=python3.11 ...)."; \
	  exit 1; }

# The environment is rebuilt whenever the pins change.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || { $(MAKE) --no-print-directory python-version && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# Checkers that pin old pandas/numpy are installed without their pins (see requirements-nodeps.txt).
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip check || true
	touch $@

MATHJAX := _static/vendor/mathjax/tex-mml-chtml.js
$(MATHJAX): scripts/fetch_mathjax.py | $(STAMP)
	$(BIN)/python scripts/fetch_mathjax.py

# The build also prints the whole book to _build/html/playbook.pdf with Debian's Chromium.
book: $(STAMP) $(MATHJAX) browser
	PLAYBOOK_PDF=1 $(BIN)/jupyter-book build . --builder html -n -W --keep-going

# Debian's Chromium prints the PDF and, with ChromeDriver, drives the site tests; installed
# only when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "Installing Debian chromium and chromium-driver for the site tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The site tests check every page with this axe-core (pinned and checked like MathJax).
AXE := tests/vendor/axe-core/axe.min.js
$(AXE): scripts/fetch_axe.py | $(STAMP)
	$(BIN)/python scripts/fetch_axe.py

test: $(STAMP) $(MATHJAX) $(AXE) browser
	$(BIN)/python -m pytest

# The light check for prose-only changes: front matter, citations, glossary links, links inside
# the book and spelling. A small environment of its own; no notebooks, no browser.
CHECK_VENV := .venv-check
$(CHECK_VENV)/.installed: requirements-check.txt
	test -x $(CHECK_VENV)/bin/python || { $(MAKE) --no-print-directory python-version && $(PYTHON) -m venv $(CHECK_VENV); }
	$(CHECK_VENV)/bin/python -m pip install --quiet -r requirements-check.txt
	touch $@

check: $(CHECK_VENV)/.installed
	$(CHECK_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_structure.py tests/test_prose.py \
	  tests/test_hygiene.py::test_spelling_is_clean

# JupyterLab with jupytext: the MyST Markdown notebooks open as notebooks (double-click).
# Listens on 127.0.0.1 only; works as root too. Extra options: make lab LAB_ARGS="--no-browser".
lab: $(STAMP)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp .jupyter-lab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	sockets=$$(mktemp -d) && trap 'rm -rf "$$sockets"' EXIT INT TERM && \
	$(BIN)/jupyter lab --ip=127.0.0.1 $(LAB_ROOT) $(LAB_KERNELS) $(LAB_ARGS) notebooks/

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
	rm -rf _build .pytest_cache .ruff_cache .venv-check
