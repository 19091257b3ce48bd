"""What every ``leakjax`` subcommand shares: the error type, argument types that reject bad
numbers at parse time, checks of output paths before any work, and the help formatter.

Every user error is a :class:`CLIError`; :func:`leakjax.cli.main` prints it as
``leakjax <command>: error: <message>`` on its own line (never after a half-drawn progress bar)
and exits with code 2, the code argparse uses for its own errors. Nothing here imports JAX.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile


class CLIError(Exception):
    """A user error, named by the flag the user typed; exit code 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's tables as written and appends ``(default: X)`` to every flag with a
    default other than ``None``/``False``."""

    def _get_help_string(self, action):
        text = action.help or ""
        d = action.default
        if "%(default)" in text or d is None or d is False or d is argparse.SUPPRESS:
            return text
        if action.option_strings or action.nargs in ("?", "*"):
            default = action.default
            if isinstance(default, list | tuple):
                default = " ".join(map(str, default))
            text += f" (default: {default})"
        return text


def positive_int(flag: str):
    """``type=`` for a flag that takes an integer >= 1."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text}: expected a positive integer") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{flag} {text}: expected a positive integer")
        return v

    return parse


def bounded_int(flag: str, low: int, high: int):
    """``type=`` for an integer in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or not low <= v <= high:
            raise argparse.ArgumentTypeError(
                f"{flag} {text}: expected an integer in [{low}, {high}]"
            ) from None
        return v

    return parse


def nonnegative_int(flag: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text}: expected an integer >= 0") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"{flag} {text}: expected an integer >= 0")
        return v

    return parse


def bounded_float(flag: str, low: float, high: float, *, low_open=False, high_open=False):
    """``type=`` for a finite float in ``[low, high]`` (ends open where asked): ``inf``,
    ``nan`` and values like ``1e30`` are rejected when the flag is parsed."""
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    want = f"a finite number in {lo}{low:g}, {high:g}{hi}"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text}: expected {want}") from None
        ok = (
            math.isfinite(v)
            and (v > low if low_open else v >= low)
            and (v < high if high_open else v <= high)
        )
        if not ok:
            raise argparse.ArgumentTypeError(f"{flag} {text}: expected {want}")
        return v

    parse.__name__ = "number"
    return parse


def _first_existing(path: str) -> str:
    p = os.path.abspath(path)
    while not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def _can_create_in(folder: str) -> str | None:
    """``None`` if a file can be created in ``folder``, else the OS's reason."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".leakjax-probe-"):
            return None
    except OSError as e:
        return e.strerror or str(e)


def check_out_dir(path: str, flag: str = "--out") -> None:
    """Raise :class:`CLIError` unless ``path`` is (or can be created as) a writable folder.
    Creates nothing."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"{flag} {path}: is an existing file; expected a folder (created if missing)")
    anchor = _first_existing(path)
    if not os.path.isdir(anchor):
        raise CLIError(f"{flag} {path}: {anchor} is a file, so the folder cannot be created there")
    why = _can_create_in(anchor)
    if why is not None:
        what = "write into" if anchor == os.path.abspath(path) else "create a folder in"
        raise CLIError(f"{flag} {path}: cannot {what} {anchor} ({why}); choose another {flag}")


def check_store_path(path: str, flag: str = "--store") -> None:
    """Raise :class:`CLIError` unless ``path`` names a store file that can be created or
    written. Creates nothing."""
    if os.path.isdir(path):
        raise CLIError(f"{flag} {path}: is a folder; expected a .sqlite file path")
    folder = os.path.dirname(os.path.abspath(path))
    check_out_dir(folder, flag)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise CLIError(f"{flag} {path}: the file is not writable; choose another {flag}")


def check_store_exists(path: str, flag: str = "STORE") -> None:
    if not os.path.exists(path):
        raise CLIError(f"{flag} {path}: no such store (a .sqlite file written by leakjax)")
    if os.path.isdir(path):
        raise CLIError(f"{flag} {path}: is a folder; expected a .sqlite file")
