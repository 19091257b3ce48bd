"""Tiny sweeps for the engine tests: IG on a 4x4 MLP compiles in ~2 s."""

import textwrap

import pytest

TINY_SWEEP = textwrap.dedent(
    """
    from leakjax.sweep import Attack, Data, Defense, Model, Sweep, Threat, axis, product, seeds
    SWEEP = Sweep("tiny", runs=product(
        axis("attack", [Attack("ig", steps=STEPS)]),
        axis("model", [Model("mlp", num_classes=4, hidden=[8])]),
        axis("data", [Data("random", victims=VICTIMS, image_shape=(4, 4, 1), num_classes=4)]),
        axis("threat", [Threat(labels="given")]),
        axis("defense", Defense.grid("noise_std", NOISE)),
        seeds(SEEDS)))
    """
)


def write_sweep(path, *, steps=3, victims=4, noise=(0.0, 0.01), seeds=2):
    text = (
        f"STEPS = {steps}\nVICTIMS = {victims}\nNOISE = {list(noise)!r}\nSEEDS = {seeds}\n"
        + TINY_SWEEP
    )
    path.write_text(text)
    return path


@pytest.fixture
def tiny_sweep_file(tmp_path):
    return write_sweep(tmp_path / "tiny.py")
