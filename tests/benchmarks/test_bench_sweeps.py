"""Every sweep config under benchmarks/sweeps loads, validates and plans (at tiny size)."""

import glob
import os

import pytest

from leakjax.sweep import load_sweep_file, make_plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "sweeps", "*.py")))


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_sweep_config_plans(path):
    full, _ = load_sweep_file(path)
    tiny, _ = load_sweep_file(path, overrides={"TINY": True})
    p_full, p_tiny = make_plan(full, {}), make_plan(tiny, {})
    assert p_full.total > p_tiny.total > 0
    assert full.name == tiny.name


def test_there_are_sweep_configs():
    names = {os.path.basename(p) for p in CONFIGS}
    assert {"dlg_defenses.py", "utility.py", "idlg_dlg_fidelity.py"} <= names
