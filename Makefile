# leakjax: two entry points that work on a fresh machine with Python 3.10+ and make.
#   make demo   set up .venv and run the main job (iDLG and DLG on embedded photos)
#   make test   set up .venv and run the linter and the test suite
#   make notebooks  re-execute notebooks/*.ipynb at full size and store their outputs in place
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint notebooks clean

$(VENV)/.ready: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: $(VENV)/.ready
	$(BIN)/leakjax demo --out runs/demo

lint: $(VENV)/.ready
	$(BIN)/ruff check leakjax tests benchmarks notebooks

# worksteal, not loadfile: xdist 3.8's loadfile/loadscope scheduler can deadlock for good after a
# worker dies (pytest-xdist issues #784, #1378); worksteal reports the dead worker's test as failed
# and goes on with the rest
test: lint
	$(BIN)/python -m pytest -n 2 --dist worksteal

# the notebooks write only into temporary folders; their outputs are committed
notebooks: $(VENV)/.ready
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=python3 \
		notebooks/*.ipynb

clean:
	rm -rf $(VENV) runs .pytest_cache
