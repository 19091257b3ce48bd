"""Optimizers the reference attacks use that optax lacks.

:func:`torch_lbfgs` reproduces PyTorch's ``torch.optim.LBFGS`` without line search, as DLG and
iDLG call it (``lr=1``, ``max_iter=20`` closure evaluations per ``.step``, ``history_size=100``,
``tolerance_grad=1e-7``, ``tolerance_change=1e-9``), including its quirks:

* the first direction is ``-g`` with step ``min(1, 1/||g||_1) * lr``; later steps use ``lr``;
* a curvature pair (s, y) enters the history only when ``y.s > 1e-10``; the oldest pair is
  dropped when the history is full; ``H_diag = y.s / y.y`` of the last accepted pair;
* one ``.step`` evaluates the objective once at its start and once after every move but the
  last (so ``max_iter`` evaluations per step), and stops early when the directional derivative
  is above ``-tolerance_change``, the gradient's max-abs is at most ``tolerance_grad``, the move
  ``max|t d|`` or the loss change is at most ``tolerance_change``;
* a ``.step`` whose first gradient already satisfies ``tolerance_grad`` changes nothing.

``optax.lbfgs`` is not a substitute: without a line search it diverges on DLG, and with its
zoom line search it stalls (see the algorithm cards, card 1).

Everything is a pure function over a flat float vector; the history is a circular buffer, so
shapes are static and the step can be jitted, vmapped and scanned.

The search direction ``-H g`` can be computed two ways, with the same result to float32
rounding (``recursion=``): ``"two_loop"``, torch's two-loop recursion (``2 L`` sequential
dot/axpy pairs over the ``L`` stored pairs), or ``"compact"`` (the default), the same recursion
written as matrix products. With ``S``, ``Y`` the stored steps and gradient differences in
chronological order, ``R = triu(S Y^T)`` (kept up to date incrementally: two matrix-vector
products per accepted pair), ``D = diag(R)`` and ``gamma = H_diag``, the two loops are two
triangular solves::

    alpha = R^-1 (S q)             q = -g       (first loop: alpha_i = rho_i s_i.(q - sum_{j>i} alpha_j y_j))
    r = gamma (q - Y^T alpha)
    delta = R^-T (D alpha - Y r)                (second loop: delta_i = alpha_i - beta_i)
    d = r + S^T delta

i.e. four matrix-vector products and two ``L x L`` triangular solves instead of ``2 L``
dependent vector operations (measured: ``benchmarks/README.md``, "Throughput (issue 15)").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
ValueAndGrad = Callable[[Array], tuple[Array, Array]]


class TorchLBFGSState(NamedTuple):
    """State persisted between ``.step`` calls (mirrors ``torch.optim.LBFGS.state``)."""

    x: Array  # (n,) current point
    d: Array  # (n,) last direction
    t: Array  # () last step size
    old_dirs: Array  # (m, n) y vectors (gradient differences), circular
    old_stps: Array  # (m, n) s vectors (steps), circular
    ro: Array  # (m,) 1 / (y.s)
    hist_start: Array  # () int32 index of the oldest pair
    hist_len: Array  # () int32 number of stored pairs
    h_diag: Array  # () initial inverse-Hessian scale
    prev_flat_grad: Array  # (n,)
    prev_loss: Array  # ()
    n_iter: Array  # () int32 global iteration count (torch's state['n_iter'])
    func_evals: Array  # () int32 total objective evaluations
    sy: Array  # (m, m) s_i . y_j of the stored pairs, storage order (compact recursion)
    yy: Array  # (m, m) y_i . y_j of the stored pairs, storage order (compact recursion)


RECURSIONS = ("compact", "two_loop")


class TorchLBFGS(NamedTuple):
    """``init(x0) -> state``; ``step(state, value_and_grad) -> (state, loss_at_start)``."""

    init: Callable[[Array], TorchLBFGSState]
    step: Callable[[TorchLBFGSState, ValueAndGrad], tuple[TorchLBFGSState, Array]]
    max_iter: int


def torch_lbfgs(
    *,
    lr: float = 1.0,
    max_iter: int = 20,
    max_eval: int | None = None,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
    history_size: int = 100,
    recursion: str = "compact",
) -> TorchLBFGS:
    """PyTorch-style L-BFGS (no line search). See the module docstring for the exact rules.

    ``lr`` may be a traced value (it never drives Python control flow); ``max_iter``,
    ``history_size`` and ``recursion`` (``"compact"`` or ``"two_loop"``: how the direction is
    computed, same result to float32 rounding; see the module docstring) are static.
    """
    if recursion not in RECURSIONS:
        raise ValueError(f"torch_lbfgs: recursion={recursion!r}, expected one of {RECURSIONS}")
    if int(max_iter) < 1:
        raise ValueError(f"torch_lbfgs: max_iter={max_iter!r}, expected an integer >= 1")
    if int(history_size) < 1:
        raise ValueError(f"torch_lbfgs: history_size={history_size!r}, expected an integer >= 1")
    max_iter = int(max_iter)
    max_eval = int(max_eval) if max_eval is not None else max_iter * 5 // 4
    m = int(history_size)

    def init(x0: Array) -> TorchLBFGSState:
        x0 = jnp.asarray(x0)
        n = x0.shape[0]
        z = jnp.zeros((), x0.dtype)
        return TorchLBFGSState(
            x=x0,
            d=jnp.zeros_like(x0),
            t=z,
            old_dirs=jnp.zeros((m, n), x0.dtype),
            old_stps=jnp.zeros((m, n), x0.dtype),
            ro=jnp.zeros((m,), x0.dtype),
            hist_start=jnp.zeros((), jnp.int32),
            hist_len=jnp.zeros((), jnp.int32),
            h_diag=jnp.ones((), x0.dtype),
            prev_flat_grad=jnp.zeros_like(x0),
            prev_loss=z,
            n_iter=jnp.zeros((), jnp.int32),
            func_evals=jnp.zeros((), jnp.int32),
            sy=jnp.zeros((m, m), x0.dtype),
            yy=jnp.zeros((m, m), x0.dtype),
        )

    def compact(g, old_dirs, old_stps, sy, yy, sq, yq, start, length, h_diag):
        # chronological order of the circular buffer; unused slots are identity rows
        order = (start + jnp.arange(m)) % m
        valid = jnp.arange(m) < length
        both = valid[:, None] & valid[None, :]
        upper = jnp.triu(jnp.where(both, sy[order][:, order], 0.0))
        upper = upper + jnp.diag(jnp.where(valid, 0.0, 1.0)).astype(g.dtype)
        yy_c = jnp.where(both, yy[order][:, order], 0.0)
        # first loop: alpha = R^-1 S q with q = -g (sq = S g, yq = Y g, storage order)
        a = jnp.where(valid, -sq[order], 0.0)
        alpha = lax.linalg.triangular_solve(upper, a[:, None], left_side=True, lower=False)[:, 0]
        # r = gamma (q - Y^T alpha); Y r from the Gram matrix Y Y^T, without reading Y again
        b = h_diag * (jnp.where(valid, -yq[order], 0.0) - yy_c @ alpha)
        # second loop: R^T delta = D alpha - Y r
        rhs = jnp.diagonal(upper) * alpha - b
        delta = lax.linalg.triangular_solve(
            upper, rhs[:, None], left_side=True, lower=False, transpose_a=True
        )[:, 0]
        # d = r + S^T delta = -gamma g - gamma Y^T alpha + S^T delta: one pass over Y and S
        coef_y = jnp.zeros((m,), g.dtype).at[order].set(jnp.where(valid, -h_diag * alpha, 0.0))
        coef_s = jnp.zeros((m,), g.dtype).at[order].set(jnp.where(valid, delta, 0.0))
        return -h_diag * g + coef_y @ old_dirs + coef_s @ old_stps

    def two_loop(g, old_dirs, old_stps, ro, start, length, h_diag):
        q = -g
        al = jnp.zeros((m,), g.dtype)

        def first(j, carry):
            q, al = carry
            i = length - 1 - j
            idx = (start + i) % m
            a = jnp.dot(old_stps[idx], q) * ro[idx]
            return q - a * old_dirs[idx], al.at[idx].set(a)

        q, al = lax.fori_loop(0, length, first, (q, al))
        r = q * h_diag

        def second(i, r):
            idx = (start + i) % m
            be = jnp.dot(old_dirs[idx], r) * ro[idx]
            return r + old_stps[idx] * (al[idx] - be)

        return lax.fori_loop(0, length, second, r)

    def step(state: TorchLBFGSState, value_and_grad: ValueAndGrad):
        loss0, g0 = value_and_grad(state.x)
        dtype = state.x.dtype
        opt_cond0 = jnp.max(jnp.abs(g0)) <= tolerance_grad

        # Inner-loop carry: (state, loss, g, n_local, evals, opt_cond, stop)
        def cond(c):
            return ~c[-1]

        def body(c):
            s, loss, g, n_local, evals, opt_cond, _ = c
            n_local = n_local + 1
            n_iter = s.n_iter + 1
            first_iter = n_iter == 1

            # ---- direction ----
            y = g - s.prev_flat_grad
            st = s.d * s.t
            ys = jnp.dot(y, st)
            accept = (~first_iter) & (ys > 1e-10)
            full = s.hist_len == m
            write_idx = jnp.where(full, s.hist_start, (s.hist_start + s.hist_len) % m)
            # row updates (in place), written only when the pair is accepted
            old_dirs = s.old_dirs.at[write_idx].set(jnp.where(accept, y, s.old_dirs[write_idx]))
            old_stps = s.old_stps.at[write_idx].set(jnp.where(accept, st, s.old_stps[write_idx]))
            ro = s.ro.at[write_idx].set(
                jnp.where(accept, 1.0 / jnp.where(accept, ys, 1.0), s.ro[write_idx])
            )
            hist_start = jnp.where(accept & full, (s.hist_start + 1) % m, s.hist_start)
            hist_len = jnp.where(accept & ~full, s.hist_len + 1, s.hist_len)
            h_diag = jnp.where(accept, ys / jnp.where(accept, jnp.dot(y, y), 1.0), s.h_diag)
            if recursion == "compact":
                # one pass over S and one over Y: the new pair's row and column of S Y^T and
                # Y Y^T, and S g, Y g for the direction
                s_prod = old_stps @ jnp.stack([y, g], axis=1)  # (m, 2): s_i.y_new, s_i.g
                y_prod = old_dirs @ jnp.stack([st, y, g], axis=1)  # y_j.s_new, y_j.y_new, y_j.g
                sy = s.sy.at[write_idx, :].set(jnp.where(accept, y_prod[:, 0], s.sy[write_idx]))
                sy = sy.at[:, write_idx].set(jnp.where(accept, s_prod[:, 0], sy[:, write_idx]))
                yy = s.yy.at[write_idx, :].set(jnp.where(accept, y_prod[:, 1], s.yy[write_idx]))
                yy = yy.at[:, write_idx].set(jnp.where(accept, y_prod[:, 1], yy[:, write_idx]))
            else:
                sy, yy = s.sy, s.yy
            # first iteration: reset the history (torch rebuilds the lists)
            hist_len = jnp.where(first_iter, 0, hist_len)
            hist_start = jnp.where(first_iter, 0, hist_start)
            h_diag = jnp.where(first_iter, jnp.ones((), dtype), h_diag)
            if recursion == "compact":
                direction = lambda: compact(  # noqa: E731
                    g,
                    old_dirs,
                    old_stps,
                    sy,
                    yy,
                    s_prod[:, 1],
                    y_prod[:, 2],
                    hist_start,
                    hist_len,
                    h_diag,
                )
            else:
                direction = lambda: two_loop(  # noqa: E731
                    g, old_dirs, old_stps, ro, hist_start, hist_len, h_diag
                )
            d = lax.cond(first_iter, lambda: -g, direction)
            prev_flat_grad = g
            prev_loss = loss
            # ---- step size ----
            t = jnp.where(first_iter, jnp.minimum(1.0, 1.0 / jnp.sum(jnp.abs(g))) * lr, lr).astype(
                dtype
            )
            gtd = jnp.dot(g, d)
            gtd_stop = gtd > -tolerance_change
            # ---- move (skipped when the directional derivative says stop) ----
            x = jnp.where(gtd_stop, s.x, s.x + t * d)
            do_eval = (~gtd_stop) & (n_local != max_iter)
            new_loss, new_g = lax.cond(do_eval, lambda: value_and_grad(x), lambda: (loss, g))
            new_opt = jnp.where(do_eval, jnp.max(jnp.abs(new_g)) <= tolerance_grad, opt_cond)
            evals = evals + do_eval.astype(jnp.int32)
            stop = (
                gtd_stop
                | (n_local == max_iter)
                | (evals >= max_eval)
                | new_opt
                | (jnp.max(jnp.abs(d * t)) <= tolerance_change)
                | (jnp.abs(new_loss - prev_loss) < tolerance_change)
            )
            s = TorchLBFGSState(
                x=x,
                d=d,
                t=t,
                old_dirs=old_dirs,
                old_stps=old_stps,
                ro=ro,
                hist_start=hist_start.astype(jnp.int32),
                hist_len=hist_len.astype(jnp.int32),
                h_diag=h_diag,
                prev_flat_grad=prev_flat_grad,
                prev_loss=prev_loss,
                n_iter=n_iter,
                func_evals=s.func_evals + do_eval.astype(jnp.int32),
                sy=sy,
                yy=yy,
            )
            return s, new_loss, new_g, n_local, evals, new_opt, stop

        start_state = state._replace(func_evals=state.func_evals + 1)
        carry = (
            start_state,
            loss0,
            g0,
            jnp.zeros((), jnp.int32),
            jnp.ones((), jnp.int32),
            opt_cond0,
            opt_cond0,
        )
        out = lax.while_loop(cond, body, carry)
        return out[0], loss0

    return TorchLBFGS(init=init, step=step, max_iter=max_iter)
