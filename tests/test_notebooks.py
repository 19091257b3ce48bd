"""Notebooks: each runs at tiny size without writing into the checkout, and the committed copy
carries its outputs (tables and captioned images visible when browsing the repository)."""

import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def _files(folder):
    return {
        os.path.join(d, f)
        for d, _, fs in os.walk(folder)
        if ".ipynb_checkpoints" not in d
        for f in fs
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_and_writes_nothing_into_the_checkout(path, monkeypatch):
    monkeypatch.setenv("LEAKJAX_NOTEBOOK_TINY", "1")
    nb = nbformat.read(path, as_version=4)
    folder = os.path.dirname(path)
    before = _files(folder)
    # the notebook's own folder as working directory, as `make notebooks` and Jupyter run it
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": folder}}
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    assert _files(folder) == before


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_committed_notebook_has_outputs_images_and_a_runtime_note(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "run `make notebooks` before committing"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert "runtime" in nb.cells[0].source.lower()  # how long it takes on 2 cores, at the top
