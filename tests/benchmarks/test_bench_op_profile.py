"""benchmarks/_op_profile.py: op kinds, HLO lookup and convolution FLOPs from a compiled program."""

import os
import re
import sys

import jax
import jax.numpy as jnp
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import _op_profile  # noqa: E402


def _conv_program():
    x = jnp.ones((2, 9, 7, 3))
    w = jnp.ones((3, 3, 3, 5))
    f = jax.jit(
        lambda x, w: lax.conv_general_dilated(
            x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    )
    return f.lower(x, w).compile().as_text()


def test_conv_flops_and_summary_from_the_compiled_program():
    text = _conv_program()
    names = re.findall(r"%?([\w.\-]+) = [^\n]* convolution\(", text)
    assert names, text
    line = _op_profile.hlo_line(text, names[0])
    # 2 * |output| (2 x 9 x 7 x 5) * window (3 x 3) * input features (3)
    assert _op_profile.conv_gflop(text, line) * 1e9 == 2 * (2 * 9 * 7 * 5) * 9 * 3
    assert _op_profile.conv_gflop(text, "f32[2] add(%a, %b)") is None
    ops = {
        names[0]: dict(us_per_call=30.0, count_per_call=1.0),
        "fusion.1": dict(us_per_call=10.0, count_per_call=2.0),
        "PjitFunction(f)": dict(us_per_call=999.0, count_per_call=1.0),
    }  # host span: dropped
    s = _op_profile.summarize(ops, text)
    assert s["op_time_ms_per_call"] == 0.04
    assert s["kinds"][_op_profile.op_kind(names[0])]["share"] == 0.75
    assert s["kinds"]["fusion"]["count_per_call"] == 2.0
    top = s["top_ops"][0]
    assert top["name"] == names[0] and top["gflop"] > 0
    assert abs(top["gflops_per_s"] - top["gflop"] / 30e-6) < 1e-9


def test_op_kind():
    assert _op_profile.op_kind("convolution.12") == "convolution"
    assert _op_profile.op_kind("ynn_fusion.3.clone") == "ynn_fusion"
