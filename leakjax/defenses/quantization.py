"""Quantization of the shared update (card 10): fp16, bf16, int8, sign, scaled sign.

Each tensor is quantized and de-quantized back to its own dtype before sharing, so the update
tree keeps its shapes and dtypes; the bits on the wire are given by
:func:`leakjax.defenses.comm.quantized_value_bits`.

* ``fp16`` / ``bf16``: cast to the low-precision type (round to nearest even) and back.
  fp16 underflows below ~6e-8 (acts like mild pruning); bf16 keeps fp32's range, 8-bit mantissa.
* ``int8``: per-tensor **symmetric** linear quantization, ``s = max|g| / 127``,
  ``q = clip(round(g / s), -127, 127)``, shared ``q * s`` (an all-zero tensor stays zero).
* ``sign``: ``sign(g)`` in {-1, 0, +1} (signSGD, Bernstein et al. 2018).
* ``scaled_sign``: ``sign(g) * mean|g|`` per tensor (EF-signSGD's ``||g||_1 / d``).

References: Zhu et al. DLG (half precision does not stop DLG); Bernstein et al., "signSGD",
ICML 2018; Karimireddy et al., "Error Feedback Fixes SignSGD", ICML 2019.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from leakjax.defenses.placement import located

QUANT_KINDS = ("fp16", "bf16", "int8", "sign", "scaled_sign")


class QuantizeState(NamedTuple):
    """No state."""


def quantize_array(g: jax.Array, kind: str) -> jax.Array:
    g = jnp.asarray(g)
    dt = g.dtype
    if kind == "fp16":
        return g.astype(jnp.float16).astype(dt)
    if kind == "bf16":
        return g.astype(jnp.bfloat16).astype(dt)
    if kind == "int8":
        gf = g.astype(jnp.float32)
        s = jnp.max(jnp.abs(gf)) / 127.0
        safe = jnp.where(s > 0, s, 1.0)
        q = jnp.clip(jnp.round(gf / safe), -127, 127)
        return (q * s).astype(dt)
    if kind == "sign":
        return jnp.sign(g)
    if kind == "scaled_sign":
        return (jnp.sign(g) * jnp.mean(jnp.abs(g.astype(jnp.float32)))).astype(dt)
    raise ValueError(f"quantize: kind={kind!r}, expected one of {QUANT_KINDS}")


def quantize(kind: str) -> optax.GradientTransformation:
    """Quantize every tensor of the update (``kind`` is static: one of :data:`QUANT_KINDS`).

    Default placement ``"update"``: quantization is the wire format of the shared update
    (DLG's half-precision experiment shares one gradient, where both placements coincide).
    """
    if kind not in QUANT_KINDS:
        raise ValueError(f"quantize: kind={kind!r}, expected one of {QUANT_KINDS}")

    def init_fn(params):
        del params
        return QuantizeState()

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: quantize_array(g, kind), updates), state

    return located(optax.GradientTransformation(init_fn, update_fn), "update")
