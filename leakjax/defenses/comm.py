"""Communication cost: bits on the wire for one (defended) update.

Per tensor with ``n`` entries of which ``nnz`` are nonzero, each sent value taking ``v`` bits
(32 for float32, 16 for fp16/bf16, 8 for int8, 1 for sign) plus ``o`` bits of per-tensor side
information (the fp32 scale of int8 and of scaled sign), the cheapest of three encodings is
counted:

* dense: ``n * v + o``;
* index list (COO): ``nnz * (v + ceil(log2 n)) + o``;
* bitmap: ``n + nnz * v + o`` (one presence bit per entry, values of the nonzeros).

A tensor without zeros therefore costs ``n * v + o``, and the dense float32 baseline is
``32 * n``. Tree structure, shapes and dtypes are known to the server and cost nothing. Sign
quantization is counted at 1 bit per entry (exact zeros, which are rare, are not
distinguished; with a bitmap they would be).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class WireFormat(NamedTuple):
    """How one entry is sent: ``value_bits`` per value, ``tensor_overhead_bits`` per tensor."""

    value_bits: int = 32
    tensor_overhead_bits: int = 0


WIRE_FORMATS = {
    "dense": WireFormat(32, 0),
    "fp32": WireFormat(32, 0),
    "fp16": WireFormat(16, 0),
    "bf16": WireFormat(16, 0),
    "int8": WireFormat(8, 32),
    "sign": WireFormat(1, 0),
    "scaled_sign": WireFormat(1, 32),
}


def wire_format(kind: str | WireFormat | None) -> WireFormat:
    if kind is None:
        return WIRE_FORMATS["dense"]
    if isinstance(kind, WireFormat):
        return kind
    if kind not in WIRE_FORMATS:
        raise ValueError(
            f"upload_bits: transform_kind={kind!r}, expected one of {sorted(WIRE_FORMATS)} "
            "or a WireFormat"
        )
    return WIRE_FORMATS[kind]


def tensor_bits(g: jax.Array, wire: WireFormat) -> jax.Array:
    """Bits for one tensor: the cheapest of dense, index list and bitmap (float32 scalar)."""
    n = int(g.size)
    if n == 0:
        return jnp.zeros((), jnp.float32)
    v, o = float(wire.value_bits), float(wire.tensor_overhead_bits)
    nnz = jnp.sum(jnp.asarray(g) != 0).astype(jnp.float32)
    idx = float(max(1, math.ceil(math.log2(n))))
    dense = n * v + o
    coo = nnz * (v + idx) + o
    bitmap = n + nnz * v + o
    return jnp.minimum(jnp.minimum(dense, coo), bitmap)


def upload_bits(update: Any, transform_kind: str | WireFormat | None = "dense") -> jax.Array:
    """Total bits to upload ``update`` (sum over tensors; jittable; float32 scalar).

    Args:
      update: the (defended) update tree.
      transform_kind: the value encoding: ``"dense"`` (float32), ``"fp16"``, ``"bf16"``,
        ``"int8"``, ``"sign"``, ``"scaled_sign"``, or a :class:`WireFormat`. Sparsity is
        detected from the exact zeros of ``update``.
    """
    wire = wire_format(transform_kind)
    leaves = jax.tree.leaves(update)
    return sum((tensor_bits(g, wire) for g in leaves), jnp.zeros((), jnp.float32))


def dense_bits(update: Any) -> int:
    """The 32-bits-per-entry dense baseline."""
    return 32 * sum(int(jnp.size(g)) for g in jax.tree.leaves(update))
