"""torch_lbfgs against a NumPy transliteration of torch.optim.LBFGS.step (no line search)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from leakjax.attacks.optim import torch_lbfgs


def reference_lbfgs_step(x, fg, st, lr=1.0, max_iter=20, tol_grad=1e-7, tol_change=1e-9, m=100):
    """One torch LBFGS .step(), written from torch's documented algorithm, in float64."""
    max_eval = max_iter * 5 // 4
    loss, g = fg(x)
    evals = 1
    if np.max(np.abs(g)) <= tol_grad:
        return x, st
    d, t = st.get("d"), st.get("t")
    dirs, stps, ro = st.get("dirs", []), st.get("stps", []), st.get("ro", [])
    h_diag, prev_g, prev_loss = st.get("h", 1.0), st.get("pg"), st.get("pl")
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        st["n"] = st.get("n", 0) + 1
        if st["n"] == 1:
            d = -g
            dirs, stps, ro, h_diag = [], [], [], 1.0
        else:
            y = g - prev_g
            s = d * t
            ys = y @ s
            if ys > 1e-10:
                if len(dirs) == m:
                    dirs.pop(0), stps.pop(0), ro.pop(0)
                dirs.append(y), stps.append(s), ro.append(1.0 / ys)
                h_diag = ys / (y @ y)
            al = [0.0] * len(dirs)
            q = -g
            for i in range(len(dirs) - 1, -1, -1):
                al[i] = (stps[i] @ q) * ro[i]
                q = q - al[i] * dirs[i]
            r = q * h_diag
            for i in range(len(dirs)):
                be = (dirs[i] @ r) * ro[i]
                r = r + stps[i] * (al[i] - be)
            d = r
        prev_g = g.copy()
        prev_loss = loss
        t = min(1.0, 1.0 / np.sum(np.abs(g))) * lr if st["n"] == 1 else lr
        gtd = g @ d
        if gtd > -tol_change:
            break
        x = x + t * d
        ls = 0
        opt_cond = False
        if n_iter != max_iter:
            loss, g = fg(x)
            opt_cond = np.max(np.abs(g)) <= tol_grad
            ls = 1
        evals += ls
        if n_iter == max_iter or evals >= max_eval or opt_cond:
            break
        if np.max(np.abs(d * t)) <= tol_change or abs(loss - prev_loss) < tol_change:
            break
    st.update(d=d, t=t, dirs=dirs, stps=stps, ro=ro, h=h_diag, pg=prev_g, pl=prev_loss)
    return x, st


A = np.diag(np.linspace(0.5, 3.0, 8))


def f_np(x):
    return 0.5 * x @ A @ x + 0.1 * np.sum(x**4) + np.sum(np.sin(x))


def fg_np(x):
    return f_np(x), A @ x + 0.4 * x**3 + np.cos(x)


def f_jax(x):
    return 0.5 * x @ jnp.asarray(A, jnp.float32) @ x + 0.1 * jnp.sum(x**4) + jnp.sum(jnp.sin(x))


@pytest.mark.parametrize("history", [100, 3])
def test_matches_reference_trajectory(history):
    x0 = np.linspace(-2.0, 2.0, 8)
    opt = torch_lbfgs(max_iter=5, history_size=history, lr=0.7)
    step = jax.jit(lambda s: opt.step(s, jax.value_and_grad(f_jax)))
    s = opt.init(jnp.asarray(x0, jnp.float32))
    x_ref, st = x0.copy(), {}
    for _ in range(4):
        s, _ = step(s)
        x_ref, st = reference_lbfgs_step(x_ref, fg_np, st, lr=0.7, max_iter=5, m=history)
        np.testing.assert_allclose(np.asarray(s.x), x_ref, rtol=2e-3, atol=2e-4)
    assert int(s.hist_len) == min(history, len(st["dirs"]))


def test_converges_and_counts_evaluations():
    opt = torch_lbfgs()
    s = opt.init(jnp.linspace(-2.0, 2.0, 8))
    s, loss0 = jax.jit(lambda s: opt.step(s, jax.value_and_grad(f_jax)))(s)
    g = jax.grad(f_jax)(s.x)
    assert float(jnp.max(jnp.abs(g))) < 1e-3
    assert 1 <= int(s.func_evals) <= 20
    assert float(f_jax(s.x)) < float(loss0)


def test_converged_step_is_a_no_op():
    opt = torch_lbfgs()
    s = opt.init(jnp.zeros(3))
    s2, _ = opt.step(s, jax.value_and_grad(lambda x: jnp.sum(x**2)))
    np.testing.assert_array_equal(s2.x, s.x)
    assert int(s2.n_iter) == 0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_iter=0"):
        torch_lbfgs(max_iter=0)
    with pytest.raises(ValueError, match="history_size=0"):
        torch_lbfgs(history_size=0)


def _smooth(x):
    m = jnp.asarray(np.random.default_rng(0).normal(size=(12, 12)) / 4, jnp.float32)
    return jnp.sum(jax.nn.softplus(m @ x - 0.3)) + 0.05 * jnp.sum(x**2) + 0.01 * jnp.sum(x**4)


@pytest.mark.parametrize("history", [100, 3])
def test_compact_direction_equals_two_loop(history):
    """From the same state (history built by 3 steps, wrapped around for history=3), one move of
    the compact recursion equals one move of torch's two-loop recursion."""
    vg = jax.value_and_grad(_smooth)
    build = torch_lbfgs(max_iter=4, history_size=history, lr=0.5, recursion="compact")
    s = build.init(jnp.linspace(-2.0, 2.0, 12))
    for _ in range(3):
        s, _ = build.step(s, vg)
    assert int(s.hist_len) == min(history, 11)
    moves = {}
    for rec in ("compact", "two_loop"):
        one = torch_lbfgs(max_iter=1, history_size=history, lr=0.5, recursion=rec)
        moves[rec] = np.asarray(one.step(s, vg)[0].x - s.x)
    assert np.abs(moves["two_loop"]).max() > 1e-3  # a real move, not a no-op
    np.testing.assert_allclose(moves["compact"], moves["two_loop"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("history", [100, 3])
def test_compact_trajectory_equals_two_loop(history):
    vg = jax.value_and_grad(_smooth)
    xs = {}
    for rec in ("compact", "two_loop"):
        opt = torch_lbfgs(max_iter=5, history_size=history, lr=0.5, recursion=rec)
        step = jax.jit(lambda s, opt=opt: opt.step(s, vg))
        s = opt.init(jnp.linspace(-2.0, 2.0, 12))
        traj = []
        for _ in range(3):
            s, _ = step(s)
            traj.append(np.asarray(s.x))
        xs[rec] = np.stack(traj)
    np.testing.assert_allclose(xs["compact"], xs["two_loop"], rtol=1e-4, atol=1e-5)


def test_rejects_unknown_recursion():
    with pytest.raises(ValueError, match="recursion='three_loop'"):
        torch_lbfgs(recursion="three_loop")
