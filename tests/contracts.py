"""Shared contract tests for every attack and every defense (optax / evosax `_common_test` style).

Attack contract (:func:`assert_attack_contract`):
  1. ``run`` under ``jax.jit`` equals the un-jitted run;
  2. ``vmap`` over keys equals a Python loop of single runs;
  3. a second call with new keys / the same shapes does not retrace;
  4. a numeric hyperparameter can be vmapped (the attack is built inside the vmapped function).

Defense contract (:func:`assert_defense_contract`):
  1. ``update`` under jit equals un-jitted;
  2. vmap over keys equals a loop;
  3. no retrace on a second call;
  4. the strength can be vmapped;
  5. ``optax.chain(defense, optax.identity())`` works and the state tree is stable across updates;
  6. the same key gives the same output.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from leakjax.attacks import run

RTOL = 1e-4
ATOL = 1e-5


def _close(a, b, rtol=RTOL, atol=ATOL, what=""):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb), f"{what}: different number of leaves"
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, f"{what}: shape {x.shape} != {y.shape}"
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=what)
        else:
            np.testing.assert_array_equal(x, y, err_msg=what)


def _result_core(r):
    # status/restart are discrete; inputs and loss are the numeric outcome
    return (r.inputs, r.labels, r.loss, r.status)


def assert_attack_contract(
    make_attack: Callable[..., object],
    obs,
    *,
    steps: int,
    hyper_name: str | None = None,
    hyper_values=None,
    rtol: float = 1e-2,
    atol: float = 2e-3,
) -> None:
    """Check the four attack contract properties for ``make_attack(**{hyper_name: v})``.

    Tolerances are loose on purpose: iterative optimizers (L-BFGS especially) amplify float
    reassociation differences between a vmapped and a single program; the check is that the
    same computation runs, not bitwise equality.
    """
    keys = jax.random.split(jax.random.key(0), 3)

    def single(key, **hp):
        return run(make_attack(**hp), key, obs, steps=steps)

    # 1. jit == no-jit (no outer jax.jit: JAX dispatches the run's primitives one by one; the
    # scan inside is compiled on its own, as in chex's ``without_jit`` variant)
    r_nojit = single(keys[0])
    traces = {"n": 0}

    def counted(key):
        traces["n"] += 1
        return single(key)

    jitted = jax.jit(counted)
    r_jit = jitted(keys[0])
    _close(_result_core(r_jit), _result_core(r_nojit), rtol, atol, "jit vs no-jit")

    # 3. no retrace on a second call
    jax.block_until_ready(jitted(keys[1]))
    assert traces["n"] == 1, f"attack retraced: traced {traces['n']} times for 2 calls"

    # 2. vmap over keys == loop
    r_vmap = jax.jit(jax.vmap(single))(keys)
    for i in range(keys.shape[0]):
        r_i = jitted(keys[i])
        r_vi = jax.tree.map(lambda x, i=i: x[i], r_vmap)
        _close(_result_core(r_vi), _result_core(r_i), rtol, atol, f"vmap[{i}] vs loop")

    # 4. vmappable numeric hyperparameter
    if hyper_name is not None:
        values = jnp.asarray(hyper_values, jnp.float32)
        one = jax.jit(lambda v: single(keys[0], **{hyper_name: v}))
        out = jax.jit(jax.vmap(one))(values)
        assert out.loss.shape == (values.shape[0],)
        for i, v in enumerate(np.asarray(values)):
            ref = one(v)  # traced scalar, compiled once
            _close(out.loss[i], ref.loss, 5e-2, 1e-4, f"vmapped {hyper_name}={v} vs single value")


def assert_defense_contract(
    make_defense: Callable[..., optax.GradientTransformation],
    updates,
    params,
    *,
    hyper_name: str | None = None,
    hyper_values=None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Check the defense contract for ``make_defense(key, **{hyper_name: v})``."""
    keys = jax.random.split(jax.random.key(0), 3)

    def apply(key, **hp):
        tx = make_defense(key, **hp)
        state = tx.init(params)
        out, state = tx.update(updates, state, params)
        out2, _ = tx.update(updates, state, params)
        return out, out2

    # 1. jit == no-jit
    with jax.disable_jit():
        ref = apply(keys[0])
    traces = {"n": 0}

    def counted(key):
        traces["n"] += 1
        return apply(key)

    jitted = jax.jit(counted)
    _close(jitted(keys[0]), ref, rtol, atol, "jit vs no-jit")
    # 3. no retrace
    jax.block_until_ready(jitted(keys[1]))
    assert traces["n"] == 1, f"defense retraced: traced {traces['n']} times for 2 calls"
    # 6. same key, same output
    _close(jitted(keys[0]), ref, rtol, atol, "same key twice")
    # 2. vmap over keys == loop
    out_v = jax.jit(jax.vmap(apply))(keys)
    for i in range(keys.shape[0]):
        _close(jax.tree.map(lambda x, i=i: x[i], out_v), jitted(keys[i]), rtol, atol, f"vmap[{i}]")
    # 4. vmappable strength
    if hyper_name is not None:
        values = jnp.asarray(hyper_values, jnp.float32)
        out_h = jax.jit(jax.vmap(lambda v: apply(keys[0], **{hyper_name: v})))(values)
        for i, v in enumerate(np.asarray(values)):
            _close(
                jax.tree.map(lambda x, i=i: x[i], out_h),
                apply(keys[0], **{hyper_name: float(v)}),
                1e-4,
                1e-5,
                f"vmapped {hyper_name}={v}",
            )
    # 5. chain composes; state tree stable across updates
    tx = optax.chain(make_defense(keys[0]), optax.identity())
    s0 = tx.init(params)
    _, s1 = tx.update(updates, s0, params)
    _, s2 = tx.update(updates, s1, params)
    assert jax.tree.structure(s0) == jax.tree.structure(s1) == jax.tree.structure(s2), (
        "defense state tree changed structure across updates"
    )
    for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s2), strict=True):
        assert jnp.shape(a) == jnp.shape(b), "defense state leaf changed shape across updates"
