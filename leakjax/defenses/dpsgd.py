"""DP-SGD (Abadi et al., CCS 2016) as a tier-2 defense, and its epsilon (card 8).

The client computes per-example gradients with ``jax.vmap(jax.grad)``, clips each to global L2
norm ``l2_clip_norm`` (``g_i * min(1, C / ||g_i||)``), sums them, adds ``N(0, (sigma * C)**2)``
per entry and divides by the batch size B:
``g' = (sum_i clip(g_i) + N(0, sigma^2 C^2 I)) / B``.

Epsilon: :func:`dp_epsilon` uses Google's ``dp_accounting`` RDP accountant with Poisson
subsampling at rate ``q`` composed over ``steps``. (Fixed-size batches sampled without
replacement are not exactly Poisson; this is the standard approximation.) Two RDP-to-DP
conversions: ``"tight"`` (``dp_accounting``'s default, the improved conversion of Balle et al.
2020) and ``"classic"`` (Mironov 2017, ``eps = min_a rdp(a) + log(1/delta) / (a - 1)``), the
one behind Abadi et al.'s moments accountant and Opacus. The classic conversion reproduces the
published tuples: Abadi et al. 2016, Sec. 3.1 (q = 0.01, sigma = 4, delta = 1e-5, T = 10000:
eps ~ 1.26) and Opacus' ``compute_dp_sgd_privacy`` documentation (60000 examples, batch 256,
sigma = 1.12, 60 epochs, orders 10/20/100, delta = 1e-5: eps = 2.95).

Threat model: the server sees ``g'``; the noise key is the client's secret.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.defenses._common import check_number, global_norm, is_traced, split_like
from leakjax.defenses._tier2 import Tier2Defense
from leakjax.fl.client import GradFn, KeyedGradFn
from leakjax.types import Model

CONVERSIONS = ("tight", "classic")


def dp_epsilon(
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    *,
    conversion: str = "tight",
    orders=None,
) -> float:
    """(epsilon, delta)-DP of DP-SGD by the RDP accountant of ``dp_accounting``.

    Args:
      noise_multiplier: sigma (noise std / clip norm), > 0.
      sample_rate: Poisson sampling probability q in (0, 1] (batch size / dataset size).
      steps: number of noisy steps (>= 1).
      delta: target delta in (0, 1).
      conversion: ``"tight"`` (default) or ``"classic"`` (see the module docstring).
      orders: RDP orders (default: ``dp_accounting``'s).
    """
    from dp_accounting import dp_event, rdp

    fn = "dp_epsilon"
    check_number(
        fn,
        "noise_multiplier",
        noise_multiplier,
        lo=0.0,
        lo_open=True,
        expected="a noise multiplier > 0",
    )
    check_number(
        fn,
        "sample_rate",
        sample_rate,
        lo=0.0,
        hi=1.0,
        lo_open=True,
        expected="a probability in (0, 1]",
    )
    check_number(
        fn, "delta", delta, lo=0.0, hi=1.0, lo_open=True, hi_open=True, expected="a delta in (0, 1)"
    )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{fn}: steps={steps!r}, expected a positive integer")
    if conversion not in CONVERSIONS:
        raise ValueError(f"{fn}: conversion={conversion!r}, expected one of {CONVERSIONS}")
    orders = list(rdp.rdp_privacy_accountant.DEFAULT_RDP_ORDERS if orders is None else orders)
    if conversion == "classic":
        per_step = rdp.rdp_privacy_accountant._compute_rdp_poisson_subsampled_gaussian(
            float(sample_rate), float(noise_multiplier), orders
        )
        a = np.asarray(orders, np.float64)
        eps = np.asarray(per_step) * int(steps) + np.log(1.0 / float(delta)) / (a - 1.0)
        return float(np.min(eps[a > 1]))
    acc = rdp.RdpAccountant(orders=orders)
    event = dp_event.PoissonSampledDpEvent(
        float(sample_rate), dp_event.GaussianDpEvent(float(noise_multiplier))
    )
    acc.compose(dp_event.SelfComposedDpEvent(event, int(steps)))
    return float(acc.get_epsilon(float(delta)))


class DPSGD(Tier2Defense):
    """See :func:`dp_sgd`."""

    name = "dp_sgd"

    def __init__(self, l2_clip_norm, noise_multiplier):
        self.l2_clip_norm = l2_clip_norm
        self.noise_multiplier = noise_multiplier
        c = l2_clip_norm if is_traced(l2_clip_norm) else float(l2_clip_norm)
        s = noise_multiplier if is_traced(noise_multiplier) else float(noise_multiplier)
        self.description = f"dp_sgd(l2_clip_norm={c}, noise_multiplier={s})"

    def wrap(self, model: Model, grad_fn: GradFn) -> KeyedGradFn:
        c, sigma = self.l2_clip_norm, self.noise_multiplier

        def keyed(key, params, x, y):
            def one(xi, yi):
                g = grad_fn(params, xi[None], yi[None])
                coef = jnp.minimum(1.0, c / jnp.maximum(global_norm(g), 1e-12))
                return jax.tree.map(lambda t: t * coef, g)

            per = jax.vmap(one)(x, y)
            b = x.shape[0]
            keys = split_like(key, params)

            def noisy(t, k):
                s = jnp.sum(t, axis=0)
                return (s + jax.random.normal(k, s.shape, s.dtype) * (sigma * c)) / b

            return jax.tree.map(noisy, per, keys)

        return keyed


def dp_sgd(l2_clip_norm=1.0, noise_multiplier=1.1) -> DPSGD:
    """DP-SGD's per-example clipping + Gaussian noise, as a tier-2 defense.

    Args:
      l2_clip_norm: C, the per-example global L2 bound (> 0). May be traced.
      noise_multiplier: sigma; the noise std is ``sigma * C`` on the *sum* (>= 0). May be traced.

    Returns:
      A :class:`DPSGD` with ``wrap(model, grad_fn)`` (the ``grad_fn`` must be the batch-mean
      client gradient; per-example gradients are ``grad_fn`` on batches of one) and
      ``description``. Report privacy with :func:`dp_epsilon`.

    References: Abadi et al., "Deep Learning with Differential Privacy", CCS 2016.
    """
    check_number(
        "dp_sgd", "l2_clip_norm", l2_clip_norm, lo=0.0, lo_open=True, expected="a clip norm > 0"
    )
    check_number(
        "dp_sgd", "noise_multiplier", noise_multiplier, lo=0.0, expected="a noise multiplier >= 0"
    )
    return DPSGD(l2_clip_norm, noise_multiplier)
