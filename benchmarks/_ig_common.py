"""Shared helpers for the IG benchmarks (not part of the library).

``run_chunked`` drives an Attack from the host in chunks of ``chunk`` steps that are *unrolled*
inside one jitted function. Reason: on XLA:CPU (jax 0.10.2) the convolutions of the
second-order gradient run ~6x slower inside a ``while`` loop (``lax.scan``, which
``leakjax.attacks.run`` uses) than in straight-line code (measured in benchmarks/README.md, "IG
speed"). The arithmetic is identical to ``run`` with ``restarts=1``; on GPU use ``run``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from leakjax.types import Status

_CACHE: dict = {}


def _compiled(attack, chunk):
    k = (id(attack), chunk)
    if k not in _CACHE:

        @jax.jit
        def advance(state, obs):
            return lax.scan(
                lambda s, _: attack.step(s, obs), state, None, length=chunk, unroll=True
            )

        _CACHE[k] = (
            advance,
            jax.jit(attack.step),
            jax.jit(attack.init),
            jax.jit(attack.result),
            attack,  # keep alive so id() stays unique
        )
    return _CACHE[k]


def run_chunked(attack, key, obs, *, steps: int, chunk: int = 5):
    """Single-restart run of ``attack`` for ``steps`` steps; returns (inputs01, labels, loss,
    trace, status). Compiles once per (attack object, chunk); ``obs`` is a traced argument."""
    advance, advance1, init, result, _ = _compiled(attack, chunk)
    state = init(key, obs)
    trace = []
    done = 0
    while done + chunk <= steps:
        state, losses = advance(state, obs)
        trace.append(np.asarray(losses))
        done += chunk
    while done < steps:
        state, loss = advance1(state, obs)
        trace.append(np.asarray(loss)[None])
        done += 1
    raw, labels, loss = result(state, obs)
    finite = bool(jnp.isfinite(loss)) and bool(jnp.all(jnp.isfinite(raw)))
    status = Status.MAX_STEPS if finite else Status.DIVERGED
    inputs = jnp.clip(attack.spec.denormalize(jnp.nan_to_num(raw)), 0.0, 1.0)
    return inputs, labels, float(loss), np.concatenate(trace), status


def machine_info() -> dict:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    try:
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except Exception:  # noqa: BLE001
        commit = None
    return dict(
        jax=jax.__version__,
        backend=jax.default_backend(),
        cpu_count=os.cpu_count(),
        platform=platform.platform(),
        loadavg=load,
        commit=commit,
    )


def pick_photos(dataset, n: int):
    """The first image of each of the first ``n`` classes (distinct labels)."""
    labels = np.asarray(dataset.labels)
    idx = [int(np.flatnonzero(labels == c)[0]) for c in range(n)]
    return np.asarray(idx)


def save_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=float)
