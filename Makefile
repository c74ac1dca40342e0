# Two commands do all set-up on a fresh machine: `make demo`, then `make test`.
# Every environment comes from one lock, uv.lock (all extras, hash-pinned), installed by uv, which
# is itself hash-pinned in requirements-uv.txt. See docs/install.md for the lock policy.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
UV_DIR := .uv
UV     := $(UV_DIR)/bin/uv
UV_VERSION ?= 0.13.8
SHARED := ../shared/data
DEMO_DATA := $(if $(wildcard $(SHARED)),$(SHARED),data)
DEMO_STORE ?= .kg-demo
PEERS  := tests/peers

# uv: use the machine's Python (never download one), build $(VENV), never touch another venv.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
unexport VIRTUAL_ENV

.PHONY: demo test system lint architecture lock lock-tool lock-check peers wheel bench clean

$(UV): requirements-uv.txt
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/pip install -q --require-hashes --no-deps -r requirements-uv.txt
	touch $@

# One environment for every target: the whole lock (all extras, dev tools included).
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

# The official MCP inspector and conformance suite (npm, pinned by tests/peers/package-lock.json).
$(PEERS)/node_modules/.installed: $(PEERS)/package.json $(PEERS)/package-lock.json
	npm ci --prefix $(PEERS) --no-audit --no-fund
	touch $@

peers: $(PEERS)/node_modules/.installed

# Debian packages the tests drive for real: chromium (the web explorer's browser tests, through
# Playwright pointed at /usr/bin/chromium) and tesseract (OCR of scanned PDFs). Needs root or sudo.
SYSTEM_PACKAGES := chromium tesseract-ocr tesseract-ocr-eng
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system:
	@command -v chromium >/dev/null && command -v tesseract >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); }

demo: $(VENV)/.synced
	@echo "== kgloom demo: ingesting $(DEMO_DATA) into $(DEMO_STORE) =="
	$(BIN)/kg ingest $(DEMO_DATA) --store $(DEMO_STORE)
	$(BIN)/kg search "knowledge distillation from a teacher model" --store $(DEMO_STORE) --k 5
	$(BIN)/kg search "scientific database lookup skill" --store $(DEMO_STORE) --k 3 --label Skill

test: $(VENV)/.synced peers system
	$(BIN)/python -m pytest -q

lint: $(VENV)/.synced
	$(BIN)/ruff check kg ingest retrieval tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Redraw docs/img/architecture.svg from the real import graph (layers: the import-linter contract).
architecture: $(VENV)/.synced
	$(BIN)/python docs/import_graph.py

# Re-resolve uv.lock from pyproject.toml (newest versions allowed by it), then rebuild the venv.
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $(VENV)/.synced

# Pin another uv (make lock-tool UV_VERSION=x.y.z): every wheel's hash goes into requirements-uv.txt.
lock-tool: $(UV)
	echo "uv==$(UV_VERSION)" | $(UV) pip compile - --generate-hashes --universal --no-header \
		--python-version 3.11 --no-config -o requirements-uv.txt
	rm -rf $(UV_DIR) && $(MAKE) $(UV)

# Fail when uv.lock no longer satisfies pyproject.toml (no network needed).
lock-check: $(UV)
	$(UV) lock --check --offline --python $(PYTHON)

wheel: $(UV)
	$(UV) build --wheel --out-dir dist

bench: $(VENV)/.synced
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(DEMO_STORE) dist build .pytest_cache .mypy_cache .ruff_cache
