# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED := ../shared/data
DEMO_DATA := $(if $(wildcard $(SHARED)),$(SHARED),data)
DEMO_STORE ?= .kg-demo

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[embeddings,ann,eval]"
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	@echo "== kgloom demo: ingesting $(DEMO_DATA) into $(DEMO_STORE) =="
	-$(BIN)/kg ingest $(DEMO_DATA) --store $(DEMO_STORE)
	$(BIN)/kg search "knowledge distillation from a teacher model" --store $(DEMO_STORE) --k 5
	$(BIN)/kg search "scientific database lookup skill" --store $(DEMO_STORE) --k 3 --label Skill

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check kg ingest retrieval tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(DEMO_STORE) .pytest_cache .mypy_cache .ruff_cache
