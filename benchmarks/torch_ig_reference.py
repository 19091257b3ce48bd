"""A PyTorch implementation of breaching's Inverting Gradients step, for speed comparisons.

Written here from breaching's attack configuration (``breaching/config/attack/
invertinggradients.yaml`` on top of ``_default_optimization_attack.yaml``; the settings are
listed in ``leakjax.attacks.inverting_gradients``' preset table), not copied from it. One trial
(restart) runs, per iteration, what breaching's ``OptimizationBasedAttacker._run_trial`` does:

* the closure: ``optimizer.zero_grad()``; the client's batch-mean cross-entropy gradient of the
  candidate with ``torch.autograd.grad(..., create_graph=True)`` over all parameters; the cosine
  distance over **all layers concatenated** (``1 - sum <g, t> / (sqrt(sum |g|^2) sqrt(sum
  |t|^2))``, scale 1); plus ``0.2 *`` breaching's total variation (the ``[-1, 1]`` stencil as a
  grouped convolution with zero padding 1, ``|.| + eps``, one mean); ``backward(inputs=
  candidate)``; ``candidate.grad.sign_()`` ("hard" signed gradients);
* ``torch.optim.Adam([candidate], lr=0.1)`` ``.step(closure)``, then the step-lr schedule
  (``MultiStepLR`` at ``N / 2.667``, ``N / 1.6``, ``N / 1.142``, gamma 0.1);
* the box: ``candidate.data = max(min(candidate, (1 - mean) / std), -mean / std)``;
* the best iterate: when the step's objective is the lowest so far, a copy of the candidate.

Trials run one after another (breaching's loop over ``num_trials``). The model is Geiping's
ConvNet in eval mode (BatchNorm running statistics), built from leakjax's Flax parameters by
:func:`convnet_from_flax` (HWIO -> OIHW kernels, the classifier's rows permuted from (H, W, C) to
torch's (C, H, W) flatten order), so both frameworks compute the same objective (checked by
:func:`check_objective`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TV_SCALE = 0.2


def convnet_torch(width: int, num_classes: int) -> nn.Sequential:
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    w = width
    layers = []
    for cin, cout in ((3, w), (w, 2 * w), (2 * w, 2 * w), (2 * w, 4 * w), (4 * w, 4 * w), (4 * w, 4 * w)):
        layers += block(cin, cout)
    layers += [nn.MaxPool2d(3)]
    layers += block(4 * w, 4 * w) + block(4 * w, 4 * w)
    layers += [nn.MaxPool2d(3), nn.Flatten(), nn.Linear(36 * w, num_classes)]
    return nn.Sequential(*layers).eval()


def convnet_from_flax(params, batch_stats, width: int, num_classes: int) -> nn.Sequential:
    """Geiping's ConvNet in torch with leakjax's ConvNet weights (eval-mode BatchNorm)."""
    model = convnet_torch(width, num_classes)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    bns = [m for m in model if isinstance(m, nn.BatchNorm2d)]
    fc = model[-1]
    with torch.no_grad():
        for i, (c, b) in enumerate(zip(convs, bns)):
            k = np.asarray(params[f"conv{i}"]["kernel"])
            c.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()))
            c.bias.copy_(torch.from_numpy(np.array(params[f"conv{i}"]["bias"])))
            b.weight.copy_(torch.from_numpy(np.array(params[f"bn{i}"]["scale"])))
            b.bias.copy_(torch.from_numpy(np.array(params[f"bn{i}"]["bias"])))
            b.running_mean.copy_(torch.from_numpy(np.array(batch_stats[f"bn{i}"]["mean"])))
            b.running_var.copy_(torch.from_numpy(np.array(batch_stats[f"bn{i}"]["var"])))
        k = np.asarray(params["classifier"]["kernel"])  # (D, C), D in (H, W, C) order
        ch = 4 * width
        d, n_cls = k.shape
        hw = int(round((d // ch) ** 0.5))
        k = k.reshape(hw, hw, ch, n_cls).transpose(2, 0, 1, 3).reshape(d, n_cls)
        fc.weight.copy_(torch.from_numpy(k.T.copy()))
        fc.bias.copy_(torch.from_numpy(np.array(params["classifier"]["bias"])))
    return model


def tv_breaching(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """breaching's TV on NCHW: the [-1, 1] stencil as a grouped convolution, zero padding 1."""
    c = x.shape[1]
    k = torch.zeros(2, 1, 3, 3, dtype=x.dtype)
    k[0, 0, 1, 1], k[0, 0, 2, 1] = -1.0, 1.0
    k[1, 0, 1, 1], k[1, 0, 1, 2] = -1.0, 1.0
    d = F.conv2d(x, k.repeat(c, 1, 1, 1), padding=1, groups=c)
    return ((d[:, 0::2].abs() + eps) + (d[:, 1::2].abs() + eps)).mean()


def objective(model, target, x, labels):
    """breaching's IG objective: cosine over all layers (scale 1) + 0.2 TV."""
    params = [p for p in model.parameters()]
    loss = F.cross_entropy(model(x), labels)
    g = torch.autograd.grad(loss, params, create_graph=True)
    dot, na, nb = 0.0, 0.0, 0.0
    for a, b in zip(g, target):
        dot = dot + (a * b).sum()
        na = na + a.pow(2).sum()
        nb = nb + b.pow(2).sum()
    cost = 1.0 - dot / (na.sqrt() * nb.sqrt())
    return cost + TV_SCALE * tv_breaching(x), cost


class BreachingIG:
    """``restarts`` trials of breaching's IG on one observation; ``step()`` steps every trial
    once (one after another, as breaching's trial loop does)."""

    def __init__(self, model, target, labels, mean, std, restarts, max_steps=24000, seed=0):
        self.model, self.target, self.labels = model, target, labels
        mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.lo, self.hi = -mean / std, (1 - mean) / std
        gen = torch.Generator().manual_seed(seed)
        self.trials = []
        for _ in range(restarts):
            x = torch.randn(1, 3, 32, 32, generator=gen).requires_grad_(True)
            opt = torch.optim.Adam([x], lr=0.1)
            sched = torch.optim.lr_scheduler.MultiStepLR(
                opt,
                milestones=[int(max_steps // 2.667), int(max_steps // 1.6), int(max_steps // 1.142)],
                gamma=0.1,
            )
            self.trials.append(dict(x=x, opt=opt, sched=sched, best=float("inf"), best_x=None))

    def _step_trial(self, t):
        x, opt = t["x"], t["opt"]

        def closure():
            opt.zero_grad()
            total, _ = objective(self.model, self.target, x, self.labels)
            total.backward(inputs=[x])
            x.grad.sign_()
            return total

        value = opt.step(closure)
        t["sched"].step()
        with torch.no_grad():
            x.data = torch.max(torch.min(x, self.hi), self.lo)
            if value < t["best"]:
                t["best"] = value.detach()
                t["best_x"] = x.detach().clone()
        return value

    def step(self):
        return [float(self._step_trial(t)) for t in self.trials]


def check_objective(model_jax, model_torch, obs, x_nhwc, labels, spec) -> dict:
    """Max relative difference of the objective value and its input gradient, leakjax vs torch,
    at one point (``x_nhwc``: normalized NHWC)."""
    import jax
    import jax.numpy as jnp

    from leakjax.attacks.objectives import cosine_distance
    from leakjax.attacks.priors import total_variation_breaching
    from leakjax.fl.client import client_gradient

    grad_fn = client_gradient(model_jax)

    def f(x):
        return cosine_distance(grad_fn(obs.params, x, labels), obs.update) + TV_SCALE * (
            total_variation_breaching(x)
        )

    vj, gj = jax.value_and_grad(f)(jnp.asarray(x_nhwc))
    xt = torch.from_numpy(np.array(x_nhwc).transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    target = torch_grads_from_flax(obs.update, model_torch)
    vt, _ = objective(model_torch, target, xt, torch.from_numpy(np.array(labels)).long())
    (gt,) = torch.autograd.grad(vt, [xt])
    gt = gt.numpy().transpose(0, 2, 3, 1)
    return dict(
        value_leakjax=float(vj),
        value_torch=float(vt.detach()),
        value_rel_diff=abs(float(vj) - float(vt.detach())) / abs(float(vt.detach())),
        grad_max_rel_diff=float(np.abs(np.asarray(gj) - gt).max() / np.abs(gt).max()),
    )


def torch_grads_from_flax(update, model_torch) -> list:
    """leakjax's ConvNet gradient tree as torch's parameter-ordered list of tensors."""
    convs = [m for m in model_torch if isinstance(m, nn.Conv2d)]
    out = []
    for i in range(len(convs)):
        k = np.asarray(update[f"conv{i}"]["kernel"]).transpose(3, 2, 0, 1)
        out += [torch.from_numpy(k.copy()), torch.from_numpy(np.array(update[f"conv{i}"]["bias"]))]
        out += [
            torch.from_numpy(np.array(update[f"bn{i}"]["scale"])),
            torch.from_numpy(np.array(update[f"bn{i}"]["bias"])),
        ]
    fc = model_torch[-1]
    k = np.asarray(update["classifier"]["kernel"])
    d, n_cls = k.shape
    ch = convs[-1].out_channels
    hw = int(round((d // ch) ** 0.5))
    k = k.reshape(hw, hw, ch, n_cls).transpose(2, 0, 1, 3).reshape(d, n_cls)
    out += [torch.from_numpy(k.T.copy()), torch.from_numpy(np.array(update["classifier"]["bias"]))]
    assert len(out) == len(list(model_torch.parameters())) and fc.weight.shape == out[-2].shape
    return out
