# leakjax: two entry points that work on a fresh machine with Python 3.10+ and make.
#   make demo   set up .venv and run the main job (iDLG and DLG on embedded photos)
#   make test   set up .venv and run the linter and the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(VENV)/.ready: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: $(VENV)/.ready
	$(BIN)/leakjax demo --out runs/demo

lint: $(VENV)/.ready
	$(BIN)/ruff check leakjax tests benchmarks notebooks

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) runs .pytest_cache
