"""Summaries of a ``jax.profiler`` trace by XLA op, with each top op's compiled HLO (benchmarks).

``summarize(ops, hlo_text)`` takes ``throughput_levers.profile_ops``' per-name times and the
compiled program's text and returns the op time per call, the share of each op kind (the HLO
instruction name before its number: ``ynn_fusion``, ``conv_general_dilated``, ``fusion``, ...)
and the top ops with their HLO instruction, the JAX function they came from (``op_name``) and,
for unfused convolutions, their FLOPs and achieved rate. Op times are summed over threads, so
they can add up to more than the wall time.
"""

from __future__ import annotations

import re

import numpy as np

_HLO_OP = re.compile(r"^[a-z][a-z_\-]*(\.\d+)")


def op_kind(name: str) -> str:
    """``convolution.12`` -> ``convolution``; ``fusion.3.clone`` -> ``fusion``."""
    return re.split(r"[.\d]", name, maxsplit=1)[0] or name


def _definition(hlo_text: str, name: str) -> str | None:
    m = re.search(r"^\s*(?:ROOT )?%?" + re.escape(name) + r" = (.*)$", hlo_text, re.M)
    return m.group(1) if m else None


def hlo_line(hlo_text: str, name: str) -> str | None:
    """The compiled HLO instruction that defines ``name`` (shapes, window, dim labels), shortened."""
    line = _definition(hlo_text, name)
    return None if line is None else re.sub(r", metadata=\{.*?\}", "", line)[:400]


def op_name(hlo_text: str, name: str) -> str | None:
    """The JAX op path recorded in the instruction's metadata (which function it came from)."""
    line = _definition(hlo_text, name)
    m = re.search(r'op_name="([^"]*)"', line or "")
    return m.group(1) if m else None


def _shape(hlo_text: str, name: str) -> list[int] | None:
    m = re.search(r"^\s*(?:ROOT )?%?" + re.escape(name) + r" = \w+\[([\d,]*)\]", hlo_text, re.M)
    return [int(d) for d in m.group(1).split(",") if d] if m else None


def conv_gflop(hlo_text: str, line: str | None) -> float | None:
    """FLOPs of an unfused ``convolution`` instruction: 2 * |output| * window * input features."""
    if not line or " convolution(" not in line:
        return None
    out = re.match(r"\w+\[([\d,]*)\]", line)
    ops = re.search(r"convolution\(%?([\w.\-]+), %?([\w.\-]+)\)", line)
    win = re.search(r"size=([\dx]+)", line)
    labels = re.search(r"dim_labels=\w+_(\w+)->", line)
    if not (out and ops and win and labels):
        return None
    rhs = _shape(hlo_text, ops.group(2))
    if rhs is None:
        return None
    in_features = rhs[labels.group(1).index("i")]
    n_out = int(np.prod([int(d) for d in out.group(1).split(",") if d]))
    n_win = int(np.prod([int(d) for d in win.group(1).split("x")]))
    return 2.0 * n_out * n_win * in_features / 1e9


def summarize(ops: dict, hlo_text: str, top: int = 12) -> dict:
    """Op kinds and top ops of one profiled program (XLA op events only; host spans dropped)."""
    hlo = {k: v for k, v in ops.items() if _HLO_OP.match(k)}
    total = sum(v["us_per_call"] for v in hlo.values())
    kinds: dict = {}
    for name, v in hlo.items():
        k = kinds.setdefault(op_kind(name), dict(us_per_call=0.0, count_per_call=0.0))
        k["us_per_call"] += v["us_per_call"]
        k["count_per_call"] += v["count_per_call"]
    for k in kinds.values():
        k["share"] = k["us_per_call"] / total if total else float("nan")
    top_ops = []
    for name, v in sorted(hlo.items(), key=lambda kv: -kv[1]["us_per_call"])[:top]:
        line = hlo_line(hlo_text, name)
        gflop = conv_gflop(hlo_text, line)
        rate = gflop / (v["us_per_call"] * 1e-6) if gflop and v["us_per_call"] else None
        top_ops.append(
            dict(
                name=name,
                **v,
                share=v["us_per_call"] / total if total else float("nan"),
                hlo=line,
                op_name=op_name(hlo_text, name),
                gflop=gflop,
                gflops_per_s=rate,
            )
        )
    return dict(
        op_time_ms_per_call=total / 1e3,
        kinds=dict(sorted(kinds.items(), key=lambda kv: -kv[1]["us_per_call"])),
        top_ops=top_ops,
    )
