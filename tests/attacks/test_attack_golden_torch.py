"""leakjax against real PyTorch, on every CI run, without torch.

``tests/golden/torch_reference.npz`` was written once by
``python benchmarks/torch_reference.py --golden tests/golden/torch_reference.npz`` (torch in
float64, the benchmarks' venv; the torch version is stored in the file). Each test rebuilds the
same problem in leakjax (float32) and compares:

* torch.optim.LBFGS trajectories on a fixed smooth function (iterates, losses, evaluation and
  iteration counters) against :func:`leakjax.attacks.torch_lbfgs`, both in float64;
* the shared gradient of a tiny sigmoid LeNet, DLG's and iDLG's objectives and their gradients
  at fixed points, and torch's first iDLG L-BFGS steps;
* IG's cosine distance, both TVs (inversefed's interior mean and breaching's zero-padded
  stencil) and ``cos + w TV`` with its gradient at fixed points.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from leakjax import attacks, fl, models
from leakjax.attacks.base import FlatState
from leakjax.attacks.objectives import cosine_distance
from leakjax.attacks.priors import total_variation, total_variation_breaching
from leakjax.fl import client_gradient
from leakjax.types import DataSpec

PATH = os.path.join(os.path.dirname(__file__), "..", "golden", "torch_reference.npz")


@pytest.fixture(scope="module")
def g():
    with np.load(PATH, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _tree(g, prefix):
    out = {}
    for k, v in g.items():
        if k.startswith(prefix + "/"):
            layer, name = k[len(prefix) + 1 :].split("/")
            out.setdefault(layer, {})[name] = jnp.asarray(v, jnp.float32)
    return out


@pytest.fixture(scope="module")
def lenet(g):
    m = models.lenet(jax.random.key(0), input_shape=(8, 8, 1), num_classes=4)
    params = _tree(g, "lenet/params")
    assert jax.tree.structure(params) == jax.tree.structure(m.params)
    return m.replace(params=params)


RAW = DataSpec("golden", (8, 8, 1), 4)
NORM = DataSpec("golden", (8, 8, 1), 4, mean=(0.5,), std=(0.25,))


# ---------------------------------------------------------------------------------------------
# L-BFGS


def _smooth(g):
    a, b = jnp.asarray(g["lbfgs/a"], jnp.float64), jnp.asarray(g["lbfgs/b"], jnp.float64)

    def f(x):
        return jnp.sum(jax.nn.softplus(a @ x - b)) + 0.05 * jnp.sum(x**2) + 0.01 * jnp.sum(x**4)

    return jax.value_and_grad(f)


CASES = {
    "default": dict(lr=1.0),
    "short_history": dict(lr=0.5, max_iter=3, history_size=2),
    "tolerance_change": dict(lr=1.0, max_iter=20, tolerance_change=1e-4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lbfgs_trajectory_matches_torch(g, case):
    """In float64 (as torch ran) the iterates agree step for step to ~1e-12."""
    with jax.enable_x64(True):
        vg = _smooth(g)
        opt = attacks.torch_lbfgs(**CASES[case])
        state = opt.init(jnp.asarray(g["lbfgs/x0"], jnp.float64))
        step = jax.jit(lambda s: opt.step(s, vg))
        want_x = g[f"lbfgs/{case}/x"]
        for i in range(want_x.shape[0]):
            state, loss = step(state)
            assert state.x.dtype == jnp.float64
            np.testing.assert_allclose(float(loss), g[f"lbfgs/{case}/loss"][i], rtol=1e-10)
            np.testing.assert_allclose(state.x, want_x[i], rtol=1e-9, atol=1e-11, err_msg=f"{i}")
            assert int(state.func_evals) == int(g[f"lbfgs/{case}/evals"][i]), f"evals, step {i}"
            assert int(state.n_iter) == int(g[f"lbfgs/{case}/n_iter"][i]), f"n_iter, step {i}"


# ---------------------------------------------------------------------------------------------
# DLG / iDLG


def test_shared_gradient_matches_torch(g, lenet):
    obs = fl.observe(
        jax.random.key(0),
        lenet,
        jnp.asarray(g["lenet/images"], jnp.float32),
        jnp.asarray(g["lenet/labels"]),
        spec=RAW,
    )
    want = _tree(g, "lenet/grad")
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(obs.update), jax.tree.leaves(want), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=str(path))


def _capture():
    """An optax transformation that stores the gradient in its state and does not move."""
    return optax.GradientTransformation(
        lambda p: jnp.zeros_like(p), lambda u, s, p=None: (jnp.zeros_like(u), u)
    )


def _obs(g, lenet, spec=RAW, prefix="lenet/grad"):
    obs = fl.observe(
        jax.random.key(0),
        lenet,
        jnp.asarray(g["lenet/images"], jnp.float32),
        jnp.asarray(g["lenet/labels"]),
        spec=spec,
        reveal_labels=True,
    )
    return obs.replace(update=_tree(g, prefix))  # torch's shared gradient as the target


def _value_and_grad(attack, obs, flat):
    flat = jnp.asarray(flat, jnp.float32)
    state, loss = jax.jit(attack.step)(FlatState(flat=flat, opt_state=jnp.zeros_like(flat)), obs)
    return float(loss), np.asarray(state.opt_state)


def test_dlg_objective_and_gradient_match_torch(g, lenet):
    obs = _obs(g, lenet)
    att = attacks.dlg(lenet, spec=RAW, optimizer=_capture())
    n = g["dlg/x"][0].size
    for i in range(g["dlg/x"].shape[0]):
        flat = np.concatenate([g["dlg/x"][i].ravel(), g["dlg/z"][i].ravel()])
        loss, grad = _value_and_grad(att, obs, flat)
        np.testing.assert_allclose(loss, g["dlg/loss"][i], rtol=1e-4)
        scale = np.max(np.abs(g["dlg/grad_x"][i]))
        np.testing.assert_allclose(
            grad[:n].reshape(g["dlg/x"][i].shape), g["dlg/grad_x"][i], rtol=1e-3, atol=1e-4 * scale
        )
        np.testing.assert_allclose(
            grad[n:].reshape(2, 4), g["dlg/grad_z"][i], rtol=1e-3, atol=1e-4 * scale
        )


def test_idlg_objective_gradient_and_first_steps_match_torch(g, lenet):
    obs = _obs(g, lenet)
    att = attacks.idlg(lenet, spec=RAW, labels="given", optimizer=_capture())
    for i in range(g["dlg/x"].shape[0]):
        loss, grad = _value_and_grad(att, obs, g["dlg/x"][i].ravel())
        np.testing.assert_allclose(loss, g["idlg/loss"][i], rtol=1e-4)
        scale = np.max(np.abs(g["idlg/grad_x"][i]))
        np.testing.assert_allclose(
            grad.reshape(g["dlg/x"][i].shape), g["idlg/grad_x"][i], rtol=1e-3, atol=1e-4 * scale
        )
    # torch's own iDLG loop (torch.optim.LBFGS, lr 1) for 3 steps from the same start
    lbfgs = attacks.torch_lbfgs()
    att = attacks.idlg(lenet, spec=RAW, labels="given", optimizer=lbfgs)
    flat = jnp.asarray(g["dlg/x"][0].ravel(), jnp.float32)
    state = FlatState(flat=flat, opt_state=lbfgs.init(flat))
    losses = []
    step = jax.jit(att.step)
    for _ in range(3):
        state, loss = step(state, obs)
        losses.append(float(loss))
    # float32 against torch's float64: the trajectories agree closely while the loss is large;
    # at step 2 the loss is 2e-5 of the start and float32 rounding shows (~1e-2 relative)
    np.testing.assert_allclose(losses[:2], g["idlg_traj/loss"][:2], rtol=1e-3)
    np.testing.assert_allclose(losses[2], g["idlg_traj/loss"][2], rtol=3e-2)
    assert int(state.opt_state.func_evals) == int(g["idlg_traj/func_evals"])


# ---------------------------------------------------------------------------------------------
# Inverting Gradients


def test_ig_cosine_tv_and_gradient_match_torch(g, lenet):
    obs = fl.observe(
        jax.random.key(0),
        lenet,
        jnp.asarray(g["lenet/images"], jnp.float32),
        jnp.asarray(g["lenet/labels"]),
        spec=NORM,
        reveal_labels=True,
    )
    # the client normalizes before the model, as the references do
    for a, b in zip(jax.tree.leaves(obs.update), jax.tree.leaves(_tree(g, "ig/grad"))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    obs = obs.replace(update=_tree(g, "ig/grad"))
    y = jnp.asarray(g["lenet/labels"])
    att = attacks.inverting_gradients(lenet, spec=NORM, labels="given", max_steps=10)
    state0 = att.init(jax.random.key(0), obs)
    grad_fn = client_gradient(lenet)

    def total(x, tv, w):
        return cosine_distance(grad_fn(obs.params, x, y), obs.update) + w * tv(x)

    for i in range(g["ig/x"].shape[0]):
        x = jnp.asarray(g["ig/x"][i], jnp.float32)
        cos = float(att.result(state0._replace(x=x[None]), obs)[2])  # the attack's match cost
        np.testing.assert_allclose(cos, g["ig/cos"][i], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(total_variation(x), g["ig/tv_inversefed"][i], rtol=1e-5)
        np.testing.assert_allclose(
            total_variation_breaching(x), g["ig/tv_breaching"][i], rtol=1e-5
        )
        for tv, w, key in ((total_variation, 0.1, "if"), (total_variation_breaching, 0.2, "br")):
            val, gx = jax.value_and_grad(total)(x, tv, w)
            np.testing.assert_allclose(val, g[f"ig/total_{key}"][i], rtol=1e-4, atol=1e-6)
            want = g[f"ig/grad_x_{key}"][i]
            np.testing.assert_allclose(gx, want, rtol=1e-3, atol=1e-4 * np.max(np.abs(want)))
