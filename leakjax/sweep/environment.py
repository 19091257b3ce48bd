"""The environment a sweep ran in (stored with every row): versions, commit, backend, devices."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess


def git_commit(path: str | None = None) -> str | None:
    """The leakjax checkout's commit (with ``+dirty`` when it has uncommitted changes), or None."""
    here = path or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict:
    """leakjax, jax, jaxlib versions, git commit, backend, device kind and count, Python, OS."""
    import jax
    import jaxlib

    import leakjax

    devices = jax.devices()
    return {
        "leakjax": leakjax.__version__,
        "git_commit": git_commit(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind if devices else None,
        "device_count": len(devices),
        "process_count": jax.process_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def environment_id(env: dict) -> str:
    return hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:16]
