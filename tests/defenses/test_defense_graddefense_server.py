"""GradDefense's server-side compensation as an option of the defense, applied by FedAvg."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax import defenses as D
from leakjax import fl, models


@pytest.fixture(scope="module")
def setup():
    m = models.mlp(jax.random.key(0), input_shape=(4, 4, 1), num_classes=3, hidden=(6,))
    xs = jax.random.uniform(jax.random.key(2), (30, 4, 4, 1))
    ys = jnp.arange(30) % 3
    return m, xs, ys


def test_spec_builds_the_compensating_defense():
    d, desc = D.parse_defense("graddefense_comp=0.01:5:10:6", 0)
    assert d.compensate and d.q == 6.0 and desc == "graddefense_comp=0.01:5:10:6"
    assert not D.parse_defense("graddefense", 0)[0].compensate


def test_fedavg_applies_the_server_compensation(setup):
    m, xs, ys = setup
    d, _ = D.parse_defense("graddefense_comp=0.05", 0)
    common = dict(num_clients=2, rounds=2, local_steps=1, batch_size=4, lr=0.1, defense=d)
    with_comp = fl.fedavg(jax.random.key(0), m, xs, ys, xs, ys, server_compensation=True, **common)
    without = fl.fedavg(jax.random.key(0), m, xs, ys, xs, ys, **common)
    diff = max(
        float(jnp.abs(a - b).max())
        for a, b in zip(jax.tree.leaves(with_comp.params), jax.tree.leaves(without.params))
    )
    assert diff > 1e-6  # the server step really changed the received updates
    # the bits are those of the client's upload: counted before the server's filter (round 1
    # starts from the same params with the same keys, so the uploads are identical)
    assert with_comp.upload_bits[0] == without.upload_bits[0]
    with pytest.raises(ValueError, match="server_compensate"):
        fl.fedavg(
            jax.random.key(0),
            m,
            xs,
            ys,
            xs,
            ys,
            server_compensation=True,
            **{**common, "defense": D.gaussian_noise(0.1, 0)},
        )


def test_server_compensate_denoises_a_low_rank_update(setup):
    m, _, _ = setup
    d = D.GradDefenseAuto(0, noise_std=0.1, compensate=True)
    rng = np.random.default_rng(0)
    sizes = [int(np.prod(t.shape)) for t in m.ordered_leaves(m.params)]
    total = sum(sizes)
    v = next(c for c in range(int(np.ceil(np.sqrt(6.0 * total))), total + 1) if total % c == 0)
    # a rank-1 signal in the V x W layout the filter uses (module order)
    signal_flat = np.outer(rng.normal(size=v), rng.normal(size=total // v)).ravel()
    i = 0
    signal = jax.tree.map(lambda t: t, m.params)
    for path, n in zip(m.layer_order, sizes):
        node = signal
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = jnp.asarray(
            signal_flat[i : i + n].reshape(np.shape(m.params[path[0]][path[1]])), jnp.float32
        )
        i += n
    noisy = jax.tree.map(lambda s: s + 0.1 * jax.random.normal(jax.random.key(3), s.shape), signal)
    err = lambda t: sum(
        float(jnp.sum((a - b) ** 2))
        for a, b in zip(jax.tree.leaves(t), jax.tree.leaves(signal))  # noqa: E731
    )
    comp = d.server_compensate(m, noisy, num_steps=1)
    assert err(comp) < err(noisy)
    off = D.GradDefenseAuto(0, noise_std=0.1)
    assert off.server_compensate(m, noisy) is noisy
