"""A PyTorch implementation of the reference DLG / iDLG setup, for speed and fidelity checks.

Written here from the algorithm cards (cards 1 and 2 of docs/algorithms.md), not copied from
the reference repositories. It reproduces what the DLG reference runs:

* the sigmoid LeNet: conv(3->12, k5, pad 2, stride 2), sigmoid, conv(12->12, k5, pad 2,
  stride 2), sigmoid, conv(12->12, k5, pad 2, stride 1), sigmoid, flatten (C, H, W) -> 768,
  linear(768 -> 100);
* the batch-mean soft-label cross entropy ``mean_b sum_c -y_bc log_softmax(f(x))_bc``;
* the DLG closure: dummy image and dummy label logits, ``softmax`` of the logits as the label,
  ``torch.autograd.grad(..., create_graph=True)``, the squared L2 distance summed over all
  parameter gradients, ``.backward()`` (which, as in the reference, also fills the network's
  parameter ``.grad`` fields: part of the reference's cost);
* ``torch.optim.LBFGS([dummy_data, dummy_label], lr=1)`` with torch's defaults (max_iter 20,
  history 100, no line search), one ``.step(closure)`` per outer step;
* iDLG: the label fixed (given, e.g. from the bias-gradient rule), only the image optimized,
  with the hard-label cross entropy, stopping once the matching loss is below 1e-6.

:func:`state_dict_from_flax` maps leakjax's Flax LeNet parameters (``leakjax.models.lenet``:
HWIO conv kernels, a ``(D, C)`` classifier kernel whose input is flattened in (H, W, C) order)
to this model's (OIHW conv weights, a ``(C, D)`` linear weight with torch's (C, H, W) flatten
order), so both frameworks start from the same weights; :func:`nhwc_to_nchw` does the same for
images and dummy starting points.

Run it to check the conversion and that the first L-BFGS steps of both implementations follow
the same loss trajectory::

    python benchmarks/torch_reference.py [--steps 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SigmoidLeNet(nn.Module):
    """DLG's sigmoid LeNet in PyTorch (NCHW)."""

    def __init__(self, channels: int = 3, hidden: int = 768, num_classes: int = 100):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 12, kernel_size=5, padding=2, stride=2),
            nn.Sigmoid(),
            nn.Conv2d(12, 12, kernel_size=5, padding=2, stride=2),
            nn.Sigmoid(),
            nn.Conv2d(12, 12, kernel_size=5, padding=2, stride=1),
            nn.Sigmoid(),
        )
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        out = self.body(x)
        out = out.reshape(out.shape[0], -1)  # (C, H, W) flatten order
        return self.fc(out)


def uniform_init_(model: nn.Module, scale: float = 0.5) -> nn.Module:
    """DLG's init: every weight and bias from U(-scale, scale)."""
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-scale, scale)
    return model


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Batch-mean cross entropy on soft labels: ``mean(sum(-target * log_softmax(logits)))``."""
    return torch.mean(torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1))


def client_gradient(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> list:
    """The gradient a client shares: batch-mean CE on one-hot labels, in module order."""
    onehot = F.one_hot(labels.long(), num_classes=model.fc.out_features).to(x.dtype)
    loss = soft_cross_entropy(model(x), onehot)
    return [g.detach().clone() for g in torch.autograd.grad(loss, list(model.parameters()))]


# ---------------------------------------------------------------------------------------------
# Weight and layout conversion from leakjax (Flax, NHWC) to this model (torch, NCHW)


def nhwc_to_nchw(x) -> torch.Tensor:
    """``(B, H, W, C)`` array -> contiguous float32 ``(B, C, H, W)`` tensor."""
    return torch.from_numpy(
        np.ascontiguousarray(np.transpose(np.asarray(x, np.float32), (0, 3, 1, 2)))
    )


def nchw_to_nhwc(x: torch.Tensor) -> np.ndarray:
    return np.transpose(x.detach().cpu().numpy(), (0, 2, 3, 1))


def state_dict_from_flax(params, *, feature_hw: tuple[int, int] | None = None) -> dict:
    """Map leakjax's Flax LeNet params (or gradients, same tree) to this model's state dict.

    Conv kernels go from HWIO ``(5, 5, Cin, Cout)`` to OIHW ``(Cout, Cin, 5, 5)``. The
    classifier kernel ``(D, C)`` is indexed by the (H, W, C)-flattened features; torch's linear
    weight ``(C, D)`` by the (C, H, W)-flattened ones, so its rows are permuted accordingly.
    ``feature_hw`` is the (H, W) of the last feature map (default: square, from D and the
    channel count).
    """
    p = params.get("params", params)
    sd = {}
    for i, name in enumerate(("conv0", "conv1", "conv2")):
        k = np.asarray(p[name]["kernel"], np.float32)
        sd[f"body.{2 * i}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
        sd[f"body.{2 * i}.bias"] = torch.from_numpy(np.asarray(p[name]["bias"], np.float32).copy())
    k = np.asarray(p["classifier"]["kernel"], np.float32)  # (D, classes), D in (H, W, C) order
    ch = int(np.asarray(p["conv2"]["kernel"]).shape[-1])
    d, n_cls = k.shape
    if feature_hw is None:
        side = int(round((d // ch) ** 0.5))
        feature_hw = (side, side)
    h, w = feature_hw
    if h * w * ch != d:
        raise ValueError(
            f"state_dict_from_flax: classifier kernel has D={d} inputs, which is not "
            f"H*W*C = {h}*{w}*{ch}; pass feature_hw"
        )
    k_chw = k.reshape(h, w, ch, n_cls).transpose(2, 0, 1, 3).reshape(d, n_cls)
    sd["fc.weight"] = torch.from_numpy(np.ascontiguousarray(k_chw.T))
    sd["fc.bias"] = torch.from_numpy(np.asarray(p["classifier"]["bias"], np.float32).copy())
    return sd


def model_from_flax(params, *, feature_hw: tuple[int, int] | None = None) -> SigmoidLeNet:
    """A :class:`SigmoidLeNet` holding the same weights as a leakjax Flax LeNet."""
    sd = state_dict_from_flax(params, feature_hw=feature_hw)
    cin = sd["body.0.weight"].shape[1]
    n_cls, d = sd["fc.weight"].shape
    model = SigmoidLeNet(channels=cin, hidden=d, num_classes=n_cls)
    model.load_state_dict(sd)
    return model


def grads_from_flax(grads, *, feature_hw: tuple[int, int] | None = None) -> list:
    """A leakjax gradient tree (same structure as the params) in this model's parameter order."""
    sd = state_dict_from_flax(grads, feature_hw=feature_hw)
    model_order = [
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
        "body.4.weight",
        "body.4.bias",
        "fc.weight",
        "fc.bias",
    ]
    return [sd[k] for k in model_order]


# ---------------------------------------------------------------------------------------------
# The attacks


def _lbfgs_func_evals(optimizer: torch.optim.LBFGS) -> int:
    state = optimizer.state[optimizer._params[0]]
    return int(state.get("func_evals", 0))


def dlg_attack(
    model: nn.Module,
    target_grads: list,
    dummy_data: torch.Tensor,
    dummy_label: torch.Tensor,
    *,
    steps: int = 300,
) -> dict:
    """DLG (card 1): L-BFGS on the dummy image and dummy label logits jointly.

    Args:
      model: the client's model (its weights are not changed, but their ``.grad`` is filled).
      target_grads: the shared gradient, in ``model.parameters()`` order.
      dummy_data: starting image ``(B, C, H, W)`` (copied).
      dummy_label: starting label logits ``(B, classes)`` (copied).
      steps: number of ``optimizer.step(closure)`` calls (300 in the reference).

    Returns:
      dict with ``data`` (final image), ``label`` (argmax of the logits), ``losses`` (the loss
      each step returned, i.e. at its start), ``func_evals`` (closure evaluations, torch's own
      counter) and ``seconds``.
    """
    dummy_data = dummy_data.detach().contiguous().clone().requires_grad_(True)
    dummy_label = dummy_label.detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([dummy_data, dummy_label], lr=1)
    params = list(model.parameters())

    def closure():
        optimizer.zero_grad()
        pred = model(dummy_data)
        dummy_onehot = F.softmax(dummy_label, dim=-1)
        loss = soft_cross_entropy(pred, dummy_onehot)
        dummy_grads = torch.autograd.grad(loss, params, create_graph=True)
        grad_diff = 0.0
        for gx, gy in zip(dummy_grads, target_grads):
            grad_diff = grad_diff + ((gx - gy) ** 2).sum()
        grad_diff.backward()
        return grad_diff

    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        losses.append(float(optimizer.step(closure).detach()))
    seconds = time.perf_counter() - t0
    return dict(
        data=dummy_data.detach(),
        label=torch.argmax(dummy_label.detach(), dim=-1),
        losses=losses,
        func_evals=_lbfgs_func_evals(optimizer),
        seconds=seconds,
    )


def idlg_attack(
    model: nn.Module,
    target_grads: list,
    dummy_data: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int = 300,
    tol: float = 1e-6,
) -> dict:
    """iDLG (card 2): the label is fixed; L-BFGS on the image only; stop once loss < ``tol``."""
    dummy_data = dummy_data.detach().contiguous().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([dummy_data], lr=1)
    params = list(model.parameters())
    onehot = F.one_hot(labels.long(), num_classes=model.fc.out_features).to(dummy_data.dtype)

    def closure():
        optimizer.zero_grad()
        loss = soft_cross_entropy(model(dummy_data), onehot)
        dummy_grads = torch.autograd.grad(loss, params, create_graph=True)
        grad_diff = 0.0
        for gx, gy in zip(dummy_grads, target_grads):
            grad_diff = grad_diff + ((gx - gy) ** 2).sum()
        grad_diff.backward()
        return grad_diff

    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        losses.append(float(optimizer.step(closure).detach()))
        if losses[-1] < tol:
            break
    seconds = time.perf_counter() - t0
    return dict(
        data=dummy_data.detach(),
        label=labels,
        losses=losses,
        func_evals=_lbfgs_func_evals(optimizer),
        seconds=seconds,
    )


def idlg_label(target_grads: list) -> torch.Tensor:
    """iDLG's analytic label (B = 1): the class whose classifier-bias gradient is negative."""
    return torch.argmin(target_grads[-1]).reshape(1)


# ---------------------------------------------------------------------------------------------
# Self-check against leakjax


def _check(steps: int) -> None:
    import jax
    import jax.numpy as jnp

    from leakjax.attacks import dlg, idlg, run
    from leakjax.data import load_embedded
    from leakjax.fl import client_gradient as jax_client_gradient
    from leakjax.fl import observe
    from leakjax.models import lenet

    torch.manual_seed(0)
    ds = load_embedded("photos", num_images=1)
    spec = ds.raw_spec()
    model = lenet(jax.random.key(1234), num_classes=100)
    images, labels = jnp.asarray(ds.images), jnp.asarray(ds.labels) % 100
    obs = observe(jax.random.key(0), model, images, labels, spec=spec)

    tmodel = model_from_flax(model.params)
    x_t = nhwc_to_nchw(images)
    y_t = torch.from_numpy(np.array(labels))
    # logits
    lj = np.asarray(model.apply_fn(model.params, images))
    lt = tmodel(x_t).detach().numpy()
    print(f"max |logits_jax - logits_torch| = {np.max(np.abs(lj - lt)):.2e}")
    # gradients of the same input
    g_t = client_gradient(tmodel, x_t, y_t)
    g_j = grads_from_flax(jax_client_gradient(model)(model.params, images, labels))
    err = max(float(torch.max(torch.abs(a - b))) for a, b in zip(g_t, g_j))
    scale = max(float(torch.max(torch.abs(a))) for a in g_t)
    print(f"max |grad_jax - grad_torch| = {err:.2e} (max |grad| = {scale:.2e})")

    for name, factory in (("dlg", dlg), ("idlg", idlg)):
        attack = factory(model, spec=spec)
        key = jax.random.key(7)
        # run() draws restart r's start from jax.random.split(key, restarts)[r]
        state = attack.init(jax.random.split(key, 1)[0], obs)
        n = int(np.prod(images.shape))
        flat = np.asarray(state.flat)
        x0 = nhwc_to_nchw(flat[:n].reshape(images.shape))
        res_j = jax.jit(lambda k, o, a=attack: run(a, k, o, steps=steps))(key, obs)
        if name == "dlg":
            z0 = torch.from_numpy(flat[n:].reshape(1, -1).copy())
            res_t = dlg_attack(tmodel, g_t, x0, z0, steps=steps)
        else:
            res_t = idlg_attack(tmodel, g_t, x0, idlg_label(g_t), steps=steps)
        trace_j = np.asarray(res_j.loss_trace)
        print(f"{name}: step  loss_leakjax    loss_torch")
        for i, lt_ in enumerate(res_t["losses"]):
            print(f"      {i:4d}  {trace_j[i]:.6e}  {lt_:.6e}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5)
    _check(ap.parse_args().steps)
