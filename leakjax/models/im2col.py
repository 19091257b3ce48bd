"""Convolution as explicit im2col + one matmul (an internal speed choice for small CPU models).

Why: a gradient-matching attack differentiates the client's gradient, so a model's convolutions
appear in four forms (forward, input gradient, weight gradient, and their adjoints). For the
tiny strided convolutions of DLG's LeNet (5x5, stride 2, 12 channels, batch 1), XLA:CPU's
convolution emitter spends most of its time on fixed per-convolution overhead. Written as
``kh * kw`` strided slices of the padded input, concatenated along channels, and one matmul
against the ``(kh * kw * C_in, C_out)`` kernel, every derivative is again slices, pads and
matmuls, which XLA:CPU runs at its matmul rate. Under ``jax.vmap`` over runs that share the
weights (the weights unbatched), the forward and input-gradient matmuls fold the run axis into
their rows: one large matmul instead of many small ones.

Measured on the 2-core CPU (``benchmarks/README.md``, "Throughput (issue 15)"): one DLG objective
evaluation (value and gradient through the client's gradient) on the LeNet in 1.2 ms against
2.0 ms with ``lax.conv_general_dilated``. Values equal ``lax.conv_general_dilated``'s to float32
rounding, to second order (tested).

Maths, NHWC input ``x``, HWIO kernel ``w`` of shape ``(kh, kw, C, O)``, strides ``(sh, sw)``,
explicit padding ``((lo_h, hi_h), (lo_w, hi_w))``::

    xp = pad(x)
    patches[b, i, j, (p, q, c)] = xp[b, sh * i + p, sw * j + q, c]
    y = patches @ w.reshape(kh * kw * C, O)

Only 2-D NHWC/HWIO convolutions without dilation or groups and with explicit padding take this
path; anything else goes to ``lax.conv_general_dilated``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from leakjax.models.canonical_conv import conv_drop_in


def im2col_patches(x, kernel_hw, strides, padding):
    """``(B, H_out, W_out, kh * kw * C)`` patches of an NHWC ``x``, ordered (row, column, channel)."""
    kh, kw = kernel_hw
    sh, sw = strides
    (lo_h, hi_h), (lo_w, hi_w) = padding
    xp = jnp.pad(x, ((0, 0), (lo_h, hi_h), (lo_w, hi_w), (0, 0)))
    hp, wp = xp.shape[1], xp.shape[2]
    ho = (hp - kh) // sh + 1
    wo = (wp - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(
            f"im2col_conv: kernel {kernel_hw} larger than the padded input {(hp, wp)}; expected "
            "an input at least as large as the kernel"
        )
    cols = [
        lax.slice(
            xp,
            (0, p, q, 0),
            (xp.shape[0], p + sh * (ho - 1) + 1, q + sw * (wo - 1) + 1, xp.shape[3]),
            (1, sh, sw, 1),
        )
        for p in range(kh)
        for q in range(kw)
    ]
    return jnp.concatenate(cols, axis=-1)


def im2col_conv(x, w, strides, padding):
    """NHWC x HWIO convolution with explicit ``padding`` ((lo, hi), (lo, hi)) by im2col."""
    kh, kw, c, o = w.shape
    patches = im2col_patches(x, (kh, kw), strides, padding)
    return jnp.dot(patches, w.reshape(kh * kw * c, o))


im2col_conv_general_dilated = conv_drop_in(
    im2col_conv,
    unit_strides_only=False,
    doc="""Drop-in for ``lax.conv_general_dilated`` (``flax.linen.Conv(conv_general_dilated=)``).

    Uses :func:`im2col_conv` for a 2-D undilated, ungrouped NHWC/HWIO convolution with explicit
    padding (any strides); anything else goes to ``lax.conv_general_dilated``.
    """,
)


def backend_default_conv(backend: str | None = None):
    """The convolution a small model should use on ``backend``: im2col on CPU (measured faster
    there), ``lax.conv_general_dilated`` elsewhere (cuDNN / TPU convolutions; not measured
    against im2col on an accelerator)."""
    backend = backend or jax.default_backend()
    return im2col_conv_general_dilated if backend == "cpu" else lax.conv_general_dilated


def space_to_depth_conv(x, w, strides, padding):
    """NHWC x HWIO strided convolution as a stride-1 convolution on a space-to-depth input.

    With stride ``s`` and the kernel zero-padded to ``s * k2`` taps, ``y[i] = sum_p xp[s i + p]
    w[p]`` becomes ``sum_a X2[i + a] W2[a]`` with ``X2[u, (alpha, c)] = xp[s u + alpha, c]``
    and ``W2[a, (alpha, c)] = w[s a + alpha, c]``: a stride-1 convolution with ``s^2 C`` input
    channels, which :func:`leakjax.models.canonical_conv.conv_nhwc` differentiates into
    canonical convolutions to every order.
    """
    from leakjax.models.canonical_conv import conv_nhwc

    sh, sw = strides
    if (sh, sw) == (1, 1):
        return conv_nhwc(x, w, padding)
    kh, kw, c, o = w.shape
    b, h, wd, _ = x.shape
    (lo_h, hi_h), (lo_w, hi_w) = padding
    ho = (h + lo_h + hi_h - kh) // sh + 1
    wo = (wd + lo_w + hi_w - kw) // sw + 1
    k2h, k2w = -(-kh // sh), -(-kw // sw)
    hs, ws = ho + k2h - 1, wo + k2w - 1
    # pad (or crop) x to exactly (sh * hs, sw * ws) after the low padding
    need_h, need_w = sh * hs - h - lo_h, sw * ws - wd - lo_w
    xp = jnp.pad(x, ((0, 0), (lo_h, max(need_h, 0)), (lo_w, max(need_w, 0)), (0, 0)))
    xp = xp[:, : sh * hs, : sw * ws]
    x2 = xp.reshape(b, hs, sh, ws, sw, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, hs, ws, sh * sw * c)
    wp = jnp.pad(w, ((0, sh * k2h - kh), (0, sw * k2w - kw), (0, 0), (0, 0)))
    w2 = wp.reshape(k2h, sh, k2w, sw, c, o).transpose(0, 2, 1, 3, 4, 5)
    w2 = w2.reshape(k2h, k2w, sh * sw * c, o)
    return conv_nhwc(x2, w2, ((0, 0), (0, 0)))


space_to_depth_conv_general_dilated = conv_drop_in(
    space_to_depth_conv,
    unit_strides_only=False,
    doc="""Drop-in for ``lax.conv_general_dilated`` using :func:`space_to_depth_conv` (see
    :func:`im2col_conv_general_dilated` for the cases it takes).""",
)
