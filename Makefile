# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: demo test bench lock up down stop clean

$(BIN)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.txt
	@touch $@

demo: $(BIN)/.installed
	bash scripts/demo.sh

test: $(BIN)/.installed
	bash scripts/test.sh

bench: $(BIN)/.installed
	bash scripts/bench.sh

# A local Airflow (api-server, scheduler, dag-processor, triggerer; Celery worker when Redis answers)
# on this checkout: prints the UI's address and login. `make down` stops it.
up: $(BIN)/.installed
	bash scripts/up.sh

down: $(BIN)/.installed
	bash scripts/down.sh

lock: $(BIN)/.installed
	$(BIN)/uv pip compile --quiet requirements.in --python-version 3.11 -o requirements.txt

# Stop the embedded PostgreSQL (if this checkout started one).
stop: $(BIN)/.installed
	PYTHONPATH=plugins $(BIN)/python -m baselib.cli stop-embedded

clean: stop
	rm -rf .pgdata .airflow data reports
