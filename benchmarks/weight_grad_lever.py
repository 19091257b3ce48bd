"""One lever, measured in one run: the weight gradient's own derivative rule (issue 15).

``leakjax.models.canonical_conv`` gives ``conv_nhwc`` a hand-written VJP. Before this lever its
weight gradient was a plain call of ``conv_nhwc`` with batch and input channels swapped, and the
second derivative came from recursing into that call. For a gradient-matching step that yields,
per layer, one convolution whose batch is ``C_in`` and whose only output channel is the real
batch ``B = 1``; XLA:CPU runs it outside its fast (YNNPACK) path at about a tenth of the matmul
rate (``results/ig_profile.json``). The lever gives the weight gradient its own VJP
(``canonical_conv.weight_grad``), whose derivatives are canonical convolutions over the real
batch.

This script times one IG step (the ``ig_speed.py`` setting: ConvNet-``width``, one 32x32 image,
labels given) with the recursive rule ("before") and the library's rule ("after"), both compiled
and warm in one process, calls interleaved, and checks that both rules give the same input
gradient of a gradient-matching objective. Median and range over ``--reps`` calls.

    python benchmarks/weight_grad_lever.py --widths 32,64 --reps 15 \
        --out benchmarks/results/weight_grad_lever.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _ig_common import machine_info, matmul_gflops, save_json  # noqa: E402
from ig_speed import jax_setup  # noqa: E402

from leakjax.models import canonical_conv as cc  # noqa: E402
from leakjax.models import convnet  # noqa: E402


def _recursive_bwd(padding, res, g):
    """The rule before the lever: the weight gradient as a swapped ``conv_nhwc`` call."""
    x, w = res
    dw = cc.conv_nhwc(x.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3), padding)
    return cc._input_grad(g, w, padding), dw.transpose(1, 2, 0, 3)


def _build(width: int, bwd) -> tuple:
    cc.conv_nhwc.defvjp(cc._fwd, bwd)
    try:
        compiled: list = []
        fns = jax_setup(width, restarts=1, compiled_out=compiled)
        step, flops = fns["jax_sequential"]
        step()  # compile and warm
        # convolutions XLA lays out with the real batch as the output's minor dim (the slow kind)
        n_slow = sum(
            "convolution(" in line and "->f01b" in line
            for line in compiled[0].as_text().splitlines()
        )
        return step, flops, n_slow
    finally:
        cc.conv_nhwc.defvjp(cc._fwd, cc._bwd)


def _matching_grad(width: int, bwd):
    """The input gradient of a gradient-matching objective (second order through the model), to
    check that both rules compute the same thing."""
    cc.conv_nhwc.defvjp(cc._fwd, bwd)
    try:
        model = convnet(jax.random.key(0), width=width, num_classes=10)
        x = jax.random.normal(jax.random.key(1), (1, 32, 32, 3))
        y = jax.nn.one_hot(jnp.array([1]), 10)

        def grads(x):
            def ce(p):
                return -jnp.sum(y * jax.nn.log_softmax(model.apply_fn(p, x)))

            return jax.grad(ce)(model.params)

        target = grads(jax.random.normal(jax.random.key(2), x.shape))

        def matching(x):
            g = grads(x)
            return sum(
                jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(target))
            )

        return np.asarray(jax.jit(jax.grad(matching))(x))
    finally:
        cc.conv_nhwc.defvjp(cc._fwd, cc._bwd)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="32,64")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    mm = matmul_gflops()
    rows = []
    for w in [int(s) for s in args.widths.split(",")]:
        before = _build(w, _recursive_bwd)
        after = _build(w, cc._bwd)
        g_b, g_a = _matching_grad(w, _recursive_bwd), _matching_grad(w, cc._bwd)
        ts: dict = {"before": [], "after": []}
        for _ in range(args.reps):  # interleaved
            for name, (fn, _, _) in (("before", before), ("after", after)):
                t = time.perf_counter()
                fn()
                ts[name].append((time.perf_counter() - t) * 1e3)
        med = {k: float(np.median(v)) for k, v in ts.items()}
        ratios = np.asarray(ts["before"]) / np.asarray(ts["after"])
        row = dict(
            width=w,
            step_gflop=before[1] / 1e9,
            before_ms=dict(median=med["before"], min=min(ts["before"]), max=max(ts["before"])),
            after_ms=dict(median=med["after"], min=min(ts["after"]), max=max(ts["after"])),
            speedup=dict(
                median=med["before"] / med["after"],
                pairwise_min=float(ratios.min()),
                pairwise_max=float(ratios.max()),
            ),
            before_gflops=before[1] / (med["before"] * 1e-3) / 1e9,
            after_gflops=after[1] / (med["after"] * 1e-3) / 1e9,
            slow_layout_convolutions=dict(before=before[2], after=after[2]),
            matching_grad_rel_diff=float(np.max(np.abs(g_b - g_a)) / np.max(np.abs(g_b))),
        )
        rows.append(row)
        print(
            f"width {w}: before {med['before']:.1f} ms, after {med['after']:.1f} ms, "
            f"{row['speedup']['median']:.2f}x; f01b convolutions {before[2]} -> {after[2]}; "
            f"matching-gradient rel. diff {row['matching_grad_rel_diff']:.1e}",
            flush=True,
        )
    out = args.out or os.path.join(os.path.dirname(__file__), "results", "weight_grad_lever.json")
    save_json(
        out,
        dict(
            command=" ".join(["python", *sys.argv]),
            machine=machine_info(),
            matmul_gflops=mm,
            rows=rows,
        ),
    )
    print("wrote", out)


if __name__ == "__main__":
    main()
