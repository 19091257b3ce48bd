"""benchmarks/_cache.py: the compile cache lives in the user's cache folder, never in /tmp."""

import glob
import os
import re
import stat
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, BENCH)
import _cache  # noqa: E402


def test_cache_dir_is_the_users_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("LEAKJAX_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = _cache.compile_cache_dir()
    assert path.startswith(str(tmp_path)), path  # under the user's home / XDG cache
    assert "leakjax" in path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    monkeypatch.setenv("LEAKJAX_CACHE_DIR", str(tmp_path / "mine"))
    assert _cache.compile_cache_dir() == str(tmp_path / "mine" / "jax_compilation_cache")


def test_no_benchmark_sets_a_fixed_cache_path():
    for path in glob.glob(os.path.join(BENCH, "*.py")):
        with open(path) as fh:
            src = fh.read()
        hits = re.findall(r"jax_compilation_cache_dir\"\s*,\s*[\"']", src)
        assert not hits, f"{os.path.basename(path)} sets a literal compile-cache path"
        assert "/tmp/leakjax_jax_cache" not in src, os.path.basename(path)
