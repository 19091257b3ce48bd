"""A stride-1 NHWC/HWIO convolution whose derivatives of every order are canonical convolutions.

Why: XLA:CPU executes a convolution fast only in its canonical form (``b01f`` input, ``01io``
kernel, ``b01f`` output). In straight-line code its ConvCanonicalization pass rewrites the
convolutions that autodiff produces for weight gradients (``f01b_i01o->01bf``) into that form,
but inside a ``while`` body (``lax.scan``, ``lax.map``: how attacks are driven) it does not, and
the second-order gradient of a gradient-matching attack then runs 4-8x slower on CPU
(benchmarks/README.md, "IG step speed"). This op writes both derivatives itself, as canonical
convolutions of the same op plus explicit transposes and flips, so reverse-over-reverse
differentiation (what gradient matching does) never produces autodiff's weight-gradient form.
The weight gradient has its own VJP too (:func:`weight_grad`): recursing into its swapped call
gave a convolution with batch ``C_in`` and one output channel, which XLA:CPU runs at about a
tenth of its matmul rate. Measured: one IG step on the ConvNet (width 16) inside ``lax.scan``
went from 0.32x to 1.18x PyTorch's speed, as fast as straight-line code
(benchmarks/results/ig_speed_before_canonical_conv.json, ig_speed.json); the weight gradient's
own VJP then made one IG step 1.35x (width 32) and 1.38x (width 64) faster
(benchmarks/results/weight_grad_lever.json).

Maths (stride 1, no dilation, padding ``(lo, hi)`` per spatial dim, kernel ``K``):

* ``y = conv(x, w)``;
* ``dx = conv(dy, flip(w)^T_io, padding = (K - 1 - lo, K - 1 - hi))``;
* ``dw = conv(x^T, dy^T, padding = (lo, hi))^T`` with ``x^T`` = ``x`` as ``(C_in, H, W, B)``
  and ``dy^T`` = ``dy`` as ``(H_out, W_out, B, C_out)``: batch and input channels swap roles,
  and the result ``(C_in, K_h, K_w, C_out)`` is transposed back to ``HWIO``.

All three are stride-1 convolutions again, so the rule applies recursively to any order. With
``c`` the cotangent of ``dw``: ``d/dx <dw, c> = dx-rule(g, c)`` and ``d/dg <dw, c> = conv(x, c)``,
both over the real batch (:func:`weight_grad`). Other
cases (strides, dilation, groups, other layouts) fall back to ``lax.conv_general_dilated``.
The values equal ``lax.conv_general_dilated``'s to float32 rounding (tested).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

_DN = ("NHWC", "HWIO", "NHWC")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_nhwc(x, w, padding):
    """Stride-1 NHWC x HWIO convolution with explicit ``padding`` ((lo, hi), (lo, hi))."""
    return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=_DN)


def _fwd(x, w, padding):
    return conv_nhwc(x, w, padding), (x, w)


def _input_grad(g, w, padding):
    """``dx`` of ``conv_nhwc(x, w, padding)`` for the cotangent ``g``: a full correlation of ``g``
    with the flipped kernel, in and out channels swapped (a canonical convolution, batch ``B``)."""
    kh, kw = w.shape[0], w.shape[1]
    (lo_h, hi_h), (lo_w, hi_w) = padding
    w_flip = jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2)
    return conv_nhwc(g, w_flip, ((kh - 1 - lo_h, kh - 1 - hi_h), (kw - 1 - lo_w, kw - 1 - hi_w)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def weight_grad(x, g, padding):
    """``dw`` (HWIO) of ``conv_nhwc(x, w, padding)`` for the output cotangent ``g``.

    Computed as a canonical convolution with batch and input channels swapped (``x`` as
    ``(C_in, H, W, B)``, ``g`` as the kernel ``(H_out, W_out, B, C_out)``). Its own derivatives
    are written out, not left to the recursion: differentiating that swapped convolution with
    respect to ``x`` would give a convolution whose batch is ``C_in`` and whose single output
    channel is ``B``, which XLA:CPU runs at about a tenth of its matmul rate
    (benchmarks/README.md, "Where an IG step spends its time"). Instead, with ``c`` the
    cotangent of ``dw``: ``d/dx = input_grad(g, c)`` and ``d/dg = conv_nhwc(x, c)``, both
    canonical convolutions over the real batch.
    """
    dw = conv_nhwc(x.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3), padding)
    return dw.transpose(1, 2, 0, 3)


def _wg_fwd(x, g, padding):
    return weight_grad(x, g, padding), (x, g)


def _wg_bwd(padding, res, c):
    x, g = res
    return _input_grad(g, c, padding), conv_nhwc(x, c, padding)


weight_grad.defvjp(_wg_fwd, _wg_bwd)


def _bwd(padding, res, g):
    x, w = res
    return _input_grad(g, w, padding), weight_grad(x, g, padding)


conv_nhwc.defvjp(_fwd, _bwd)


def conv_drop_in(fast, *, unit_strides_only: bool, doc: str):
    """A drop-in for ``lax.conv_general_dilated`` (e.g. ``flax.linen.Conv(conv_general_dilated=)``)
    that calls ``fast(lhs, rhs, strides, padding)`` for a 2-D, undilated, ungrouped NHWC/HWIO
    convolution with explicit padding (and stride 1 when ``unit_strides_only``) and
    ``lax.conv_general_dilated`` for anything else. ``doc`` becomes its docstring."""

    def conv_general_dilated(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation=None,
        rhs_dilation=None,
        dimension_numbers=None,
        feature_group_count=1,
        batch_group_count=1,
        precision=None,
        preferred_element_type=None,
    ):
        ones = (1,) * (lhs.ndim - 2)
        simple = (
            lhs.ndim == 4
            and (not unit_strides_only or tuple(window_strides) == ones)
            and (lhs_dilation is None or tuple(lhs_dilation) == ones)
            and (rhs_dilation is None or tuple(rhs_dilation) == ones)
            and feature_group_count == 1
            and batch_group_count == 1
            and not isinstance(padding, str)
            and _is_nhwc(dimension_numbers, lhs.ndim)
            and preferred_element_type is None
            and lhs.shape[-1] == rhs.shape[2]
        )
        if simple:
            pad = tuple((int(a), int(b)) for a, b in padding)
            return fast(lhs, rhs, tuple(int(v) for v in window_strides), pad)
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count,
            batch_group_count=batch_group_count,
            precision=precision,
            preferred_element_type=preferred_element_type,
        )

    conv_general_dilated.__doc__ = doc
    return conv_general_dilated


canonical_conv_general_dilated = conv_drop_in(
    lambda x, w, strides, padding: conv_nhwc(x, w, padding),
    unit_strides_only=True,
    doc="""Drop-in for ``lax.conv_general_dilated`` (e.g. ``flax.linen.Conv(conv_general_dilated=)``).

    Uses :func:`conv_nhwc` when the call is a 2-D, stride-1, undilated, ungrouped NHWC/HWIO
    convolution with explicit padding; anything else goes to ``lax.conv_general_dilated``.
    """,
)


def _is_nhwc(dimension_numbers, ndim) -> bool:
    if dimension_numbers is None:
        return False
    dn = lax.conv_dimension_numbers((1,) * ndim, (1,) * ndim, dimension_numbers)
    return dn == lax.conv_dimension_numbers((1,) * ndim, (1,) * ndim, _DN)
