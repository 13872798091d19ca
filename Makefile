# Two commands set everything up on a fresh machine:
#   make run   - create .venv, install, execute notebooks 01 -> 08 (runs/notebooks/); full size
#                with a GPU, the demo size without (HELPERS_SIZE / SMOKE=1 override)
#   make test  - create .venv, install, unit tests + every notebook under nbval (smoke)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run test unit notebooks rehearsal clean-runs

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[notebooks,test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m helpers run-notebooks

# Unit tests, the full-size rehearsal (notebooks 01-08 at full model sizes under a step
# budget, tests/test_full_size_rehearsal.py) and the notebooks (nbval, smoke sizes).
test: install
	SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest tests notebooks --nbval-lax \
		--nbval-cell-timeout=900 --durations=15 $(PYTEST_ARGS)

unit: install
	MPLBACKEND=Agg $(PY) -m pytest tests -m "not rehearsal" $(PYTEST_ARGS)

rehearsal: install
	MPLBACKEND=Agg $(PY) -m pytest tests -m rehearsal $(PYTEST_ARGS)

notebooks: install
	SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest notebooks --nbval-lax --nbval-cell-timeout=900

clean-runs:
	rm -rf runs
