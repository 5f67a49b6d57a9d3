# Two entry points for a fresh machine: `make demo` and `make test`.
# Everything they need is installed here, into .venv (Debian's prometheus via apt for the tests).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint install bench compat

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/glance-kafka demo --duration 60

# Two pytest workers (the CI's two cores): the long scenarios spend most of their time in timed
# outages and process start-up, so two of them overlap well (README, "Development").
test: $(VENV)/.installed
	bash scripts/ensure-system-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n 2

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# The benchmarks (bench/README.md): each prints its figures and writes bench/results/*.json.
bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/publish.py
	$(PY) bench/aggregate.py
	$(PY) bench/latency.py
	$(PY) bench/memory.py
	$(PY) bench/rabbit.py
	$(PY) bench/glance_latency.py

# Per OpenStack release (2025.1, 2025.2, 2026.1, master): the base package in a fresh venv with
# that release's upper-constraints and Glance, pip check, and Glance's notifier delivering through
# the driver (minutes per release; README, "Installing the driver into Glance"). Not in `make test`.
compat: $(VENV)/.installed
	$(PY) scripts/compat $(RELEASES)
