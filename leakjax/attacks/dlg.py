"""DLG: Deep Leakage from Gradients (Zhu, Liu, Han; NeurIPS 2019, arXiv:1906.08935).

Threat model: honest-but-curious server; knows the architecture and the weights the client
started from, sees one batch-mean gradient; knows neither the data nor the labels (B known).

Objective (card 1): jointly over a dummy image ``x`` and dummy label logits ``z``,
``min sum_l || grad_theta_l CE(f(x), softmax(z)) - g*_l ||_2^2`` over *all* parameter tensors,
with no normalization, no prior and no box. The inner gradient is the client's own
(:func:`leakjax.fl.client_gradient`), differentiated through (second-order autodiff).

Optimizer: PyTorch-style L-BFGS (lr 1, 20 evaluations per step, history 100, no line search;
:func:`leakjax.attacks.optim.torch_lbfgs`), the reference runs 300 steps. Init: ``x ~ N(0, 1)``
in the model's input space (raw [0, 1] pixels for DLG's LeNet), ``z ~ N(0, 1)`` of shape (B, C).
The label is ``argmax(z)``. Any optax optimizer can replace L-BFGS. The run returns the last
iterate, as the reference's ``main.py`` keeps its final dummy data (``Attack.select="last"``;
``run(..., select="best")`` keeps the lowest-loss iterate instead).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from leakjax.attacks.base import Attack, check_observation, flat_optimizer_attack
from leakjax.attacks.ghost import ghost_l2_distance
from leakjax.attacks.objectives import l2_distance
from leakjax.attacks.optim import TorchLBFGS, torch_lbfgs
from leakjax.fl.client import client_gradient
from leakjax.types import DataSpec, Model


def _check_optimizer(fn: str, optimizer):
    if not isinstance(optimizer, (TorchLBFGS, optax.GradientTransformation)):
        raise TypeError(
            f"{fn}: optimizer={optimizer!r}, expected leakjax.attacks.torch_lbfgs(...) or an "
            "optax.GradientTransformation"
        )


def dlg(
    model: Model,
    *,
    spec: DataSpec,
    optimizer: TorchLBFGS | optax.GradientTransformation | None = None,
    init_std: float = 1.0,
    tol: float = 1e-6,
    early_stop: bool = False,
    ghost: bool | None = False,
) -> Attack:
    """DLG as an :class:`~leakjax.attacks.base.Attack` (run it with :func:`leakjax.attacks.run`).

    Args:
      model: the client's model.
      spec: the model's input normalization (DLG uses raw [0, 1]: mean 0, std 1).
      optimizer: defaults to ``torch_lbfgs()`` (lr 1, max_iter 20, history 100).
      init_std: std of the Gaussian init of both the image and the label logits (1 in DLG).
      tol: matching loss under which a run counts as converged.
      early_stop: freeze once converged (the DLG reference runs all steps: False).
      ghost: compute the distance of the classifier's weight gradient without forming it
        (:mod:`leakjax.attacks.ghost`; the same objective to float32 rounding). ``False``
        (default): never; ``None``: when the model qualifies; ``True``: required.
    """
    optimizer = torch_lbfgs() if optimizer is None else optimizer
    _check_optimizer("dlg", optimizer)
    grad_fn = client_gradient(model)
    ghost_fn = None if ghost is False else ghost_l2_distance(model)
    if ghost is True and ghost_fn is None:
        raise ValueError(
            f"dlg: ghost=True but model {model.name!r} has no affine classifier head with a "
            "features_fn (see leakjax.attacks.ghost); use ghost=None or False"
        )
    shape = tuple(model.input_shape)
    c = model.num_classes

    def sample_init(key, obs):
        check_observation(model, obs)
        kx, kz = jax.random.split(key)
        b = obs.batch_size
        x = init_std * jax.random.normal(kx, (b, *shape), jnp.float32)
        z = init_std * jax.random.normal(kz, (b, c), jnp.float32)
        return x, z

    def unravel(flat, obs):
        b = obs.batch_size
        n = b * math.prod(shape)
        x = flat[:n].reshape((b, *shape))
        z = flat[n:].reshape((b, c))
        return x, z

    def objective(flat, obs):
        x, z = unravel(flat, obs)
        y = jax.nn.softmax(z, axis=-1)
        if ghost_fn is not None:
            return ghost_fn(obs.params, x, y, obs.update)
        return l2_distance(grad_fn(obs.params, x, y), obs.update)

    def decode(flat, obs):
        x, z = unravel(flat, obs)
        return x, jnp.argmax(z, axis=-1).astype(jnp.int32)

    return flat_optimizer_attack(
        objective=objective,
        sample_init=sample_init,
        decode=decode,
        optimizer=optimizer,
        spec=spec,
        tol=tol,
        early_stop=early_stop,
        name="dlg",
    )
