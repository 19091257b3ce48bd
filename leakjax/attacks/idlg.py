"""iDLG: Improved Deep Leakage from Gradients (Zhao, Mopuri, Bilen; arXiv:2001.02610, 2020).

Threat model: as DLG (card 2), B = 1. The label is read analytically from the classifier
layer's gradient (bias rule ``argmin_c g_bias``; weight-row rule when there is no bias), then
only the image is optimized: ``min_x sum_l || grad_theta_l CE(f(x), y_hat) - g*_l ||_2^2``
with the batch-mean hard-label CE. L-BFGS (torch-style, lr 1), 300 steps, stop when the matching
loss is below 1e-6; ``x ~ N(0, 1)`` in the model's input space.
With ``labels="given"`` the Observation's revealed labels are used instead (any B).
The run returns the last iterate, as the reference does (``Attack.select="last"``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from leakjax.attacks.base import Attack, check_observation, flat_optimizer_attack
from leakjax.attacks.dlg import _check_optimizer
from leakjax.attacks.labels import LABEL_RULES, infer_labels
from leakjax.attacks.objectives import l2_distance
from leakjax.attacks.optim import TorchLBFGS, torch_lbfgs
from leakjax.fl.client import client_gradient
from leakjax.types import DataSpec, Model


def idlg(
    model: Model,
    *,
    spec: DataSpec,
    labels: str = "infer",
    label_rule: str = "idlg",
    optimizer: TorchLBFGS | optax.GradientTransformation | None = None,
    init_std: float = 1.0,
    tol: float = 1e-6,
    early_stop: bool = True,
) -> Attack:
    """iDLG as an :class:`~leakjax.attacks.base.Attack`.

    Args:
      model: the client's model.
      spec: the model's input normalization (iDLG uses raw [0, 1]: mean 0, std 1).
      labels: ``"infer"`` (analytic rule) or ``"given"`` (``obs.labels``, threat model
        "labels known").
      label_rule: a name in :data:`leakjax.attacks.labels.LABEL_RULES`.
      optimizer: defaults to ``torch_lbfgs()``.
      init_std: std of the Gaussian image init.
      tol: converged when the matching loss falls below it (1e-6 in the reference).
      early_stop: freeze once converged, as the reference does.
    """
    if labels not in ("infer", "given"):
        raise ValueError(f"idlg: labels={labels!r}, expected 'infer' or 'given'")
    if label_rule not in LABEL_RULES:
        raise ValueError(f"idlg: label_rule={label_rule!r}, expected one of {sorted(LABEL_RULES)}")
    optimizer = torch_lbfgs() if optimizer is None else optimizer
    _check_optimizer("idlg", optimizer)
    grad_fn = client_gradient(model)
    shape = tuple(model.input_shape)

    def target_labels(obs):
        if labels == "given":
            if obs.labels is None:
                raise ValueError(
                    "idlg: labels='given' but the observation carries no labels; observe with "
                    "reveal_labels=True or use labels='infer'"
                )
            return obs.labels.astype(jnp.int32)
        return infer_labels(model, obs.update, rule=label_rule, batch_size=obs.batch_size)

    def sample_init(key, obs):
        check_observation(model, obs)
        return init_std * jax.random.normal(key, (obs.batch_size, *shape), jnp.float32)

    def objective(flat, obs):
        x = flat.reshape((obs.batch_size, *shape))
        g = grad_fn(obs.params, x, target_labels(obs))
        return l2_distance(g, obs.update)

    def decode(flat, obs):
        return flat.reshape((obs.batch_size, *shape)), target_labels(obs)

    return flat_optimizer_attack(
        objective=objective,
        sample_init=sample_init,
        decode=decode,
        optimizer=optimizer,
        spec=spec,
        tol=tol,
        early_stop=early_stop,
        name="idlg",
    )
