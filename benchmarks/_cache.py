"""Where benchmarks keep JAX's persistent compilation cache: the user's own cache folder.

``platformdirs.user_cache_dir("leakjax")`` when platformdirs is installed (it is a dependency of
several of leakjax's dependencies), else ``$XDG_CACHE_HOME/leakjax`` or ``~/.cache/leakjax``;
``LEAKJAX_CACHE_DIR`` overrides both. Never a fixed path in a world-writable folder such as
``/tmp``, where another user could plant or read compiled programs. The folder is created with
mode 0700.
"""

from __future__ import annotations

import os


def user_cache_dir() -> str:
    override = os.environ.get("LEAKJAX_CACHE_DIR")
    if override:
        return override
    try:
        import platformdirs

        return platformdirs.user_cache_dir("leakjax")
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "leakjax")


def compile_cache_dir() -> str:
    """``<user cache>/jax_compilation_cache``, created (mode 0700) if missing."""
    path = os.path.join(user_cache_dir(), "jax_compilation_cache")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def enable_compile_cache() -> str:
    """Point JAX's persistent compilation cache at :func:`compile_cache_dir`; return the path."""
    import jax

    path = compile_cache_dir()
    jax.config.update("jax_compilation_cache_dir", path)
    return path
