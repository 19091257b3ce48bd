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
import os
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
      dict with ``data`` (final image), ``label`` (argmax of the logits), ``label_logits``,
      ``losses`` (the loss
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
        label_logits=dummy_label.detach(),
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


# ---------------------------------------------------------------------------------------------
# Golden values for the test suite (tests compare against them without torch)


def flax_grads_from_torch(grads: list, like: dict, *, feature_hw: tuple[int, int]) -> dict:
    """The inverse of :func:`grads_from_flax`: torch's LeNet gradients (module order) as a tree
    shaped like leakjax's Flax params ``like`` (HWIO kernels, (H, W, C)-ordered classifier)."""
    out = {}
    for i, name in enumerate(("conv0", "conv1", "conv2")):
        w, b = grads[2 * i], grads[2 * i + 1]
        out[name] = dict(
            kernel=w.detach().cpu().numpy().transpose(2, 3, 1, 0), bias=b.detach().cpu().numpy()
        )
    w = grads[6].detach().cpu().numpy()  # (C, D) with D in (C, H, W) order
    h, wd = feature_hw
    ch = like["conv2"]["kernel"].shape[-1]
    n_cls = w.shape[0]
    k = w.T.reshape(ch, h, wd, n_cls).transpose(1, 2, 0, 3).reshape(h * wd * ch, n_cls)
    out["classifier"] = dict(kernel=k, bias=grads[7].detach().cpu().numpy())
    return out


def _smooth_problem(n: int = 6, m: int = 10, seed: int = 0):
    """A fixed smooth test function for L-BFGS: logistic terms + an L2 and a quartic term."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, n))
    b = rng.normal(size=(m,))
    x0 = rng.normal(size=(n,)) * 2.0

    def f(x):
        z = torch.as_tensor(a, dtype=x.dtype) @ x - torch.as_tensor(b, dtype=x.dtype)
        return F.softplus(z).sum() + 0.05 * (x**2).sum() + 0.01 * (x**4).sum()

    return a, b, x0, f


def _lbfgs_trajectory(f, x0, steps: int, **kw) -> dict:
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], **kw)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    xs, losses, evals, iters = [], [], [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        st = opt.state[opt._params[0]]
        xs.append(x.detach().numpy().copy())
        evals.append(int(st.get("func_evals", 0)))
        iters.append(int(st.get("n_iter", 0)))
    return dict(
        x=np.stack(xs), loss=np.asarray(losses), evals=np.asarray(evals), n_iter=np.asarray(iters)
    )


LBFGS_CASES = {
    # name: (steps, torch.optim.LBFGS keyword arguments)
    "default": (3, dict(lr=1.0)),
    "short_history": (6, dict(lr=0.5, max_iter=3, history_size=2)),
    "tolerance_change": (4, dict(lr=1.0, max_iter=20, tolerance_change=1e-4)),
}


def _dlg_objective(tmodel, target, x, z):
    x = x.detach().clone().requires_grad_(True)
    z = z.detach().clone().requires_grad_(True)
    loss = soft_cross_entropy(tmodel(x), F.softmax(z, dim=-1))
    grads = torch.autograd.grad(loss, list(tmodel.parameters()), create_graph=True)
    d = sum(((g - t) ** 2).sum() for g, t in zip(grads, target))
    gx, gz = torch.autograd.grad(d, [x, z])
    return float(d.detach()), gx, gz


def _idlg_objective(tmodel, target, x, labels):
    x = x.detach().clone().requires_grad_(True)
    onehot = F.one_hot(labels.long(), num_classes=tmodel.fc.out_features).to(x.dtype)
    loss = soft_cross_entropy(tmodel(x), onehot)
    grads = torch.autograd.grad(loss, list(tmodel.parameters()), create_graph=True)
    d = sum(((g - t) ** 2).sum() for g, t in zip(grads, target))
    (gx,) = torch.autograd.grad(d, [x])
    return float(d.detach()), gx


def tv_inversefed(x: torch.Tensor) -> torch.Tensor:
    """inversefed's / plato's TV on NCHW: interior differences, one mean per direction."""
    dx = torch.mean(torch.abs(x[:, :, :, :-1] - x[:, :, :, 1:]))
    dy = torch.mean(torch.abs(x[:, :, :-1, :] - x[:, :, 1:, :]))
    return dx + dy


def tv_breaching(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """breaching's TV on NCHW: the [-1, 1] stencil as a grouped convolution, zero padding 1."""
    c = x.shape[1]
    k = torch.zeros(2, 1, 3, 3, dtype=x.dtype)
    k[0, 0, 1, 1], k[0, 0, 2, 1] = -1.0, 1.0  # vertical: x[i+1, j] - x[i, j]
    k[1, 0, 1, 1], k[1, 0, 1, 2] = -1.0, 1.0  # horizontal: x[i, j+1] - x[i, j]
    d = F.conv2d(x, k.repeat(c, 1, 1, 1), padding=1, groups=c)
    return ((d[:, 0::2].abs() + eps) + (d[:, 1::2].abs() + eps)).mean()


def _cosine(a: list, b: list) -> torch.Tensor:
    dot = sum((x * y).sum() for x, y in zip(a, b))
    na = sum((x * x).sum() for x in a)
    nb = sum((y * y).sum() for y in b)
    return 1.0 - dot / (na.sqrt() * nb.sqrt())


def _ig_objective(tmodel, target, x, labels, tv_fn, tv_weight):
    x = x.detach().clone().requires_grad_(True)
    onehot = F.one_hot(labels.long(), num_classes=tmodel.fc.out_features).to(x.dtype)
    loss = soft_cross_entropy(tmodel(x), onehot)
    grads = torch.autograd.grad(loss, list(tmodel.parameters()), create_graph=True)
    cos = _cosine(grads, target)
    tv = tv_fn(x)
    total = cos + tv_weight * tv
    (gx,) = torch.autograd.grad(total, [x])
    return float(cos.detach()), float(tv.detach()), float(total.detach()), gx


def golden(path: str) -> None:
    """Write the golden values ``tests/golden/torch_reference.npz`` (float64 torch).

    * ``lbfgs/<case>/*``: torch.optim.LBFGS (no line search) on :func:`_smooth_problem`:
      the iterate, the loss each ``.step`` returned, ``func_evals`` and ``n_iter`` after each step.
    * ``lenet/*``: leakjax's tiny sigmoid LeNet (8x8x1 -> 48 -> 4, ``lenet(key(1))``) params in
      leakjax layout, two victim images and labels, torch's shared gradient in leakjax layout.
    * ``dlg/*``, ``idlg/*``: DLG's objective (soft labels ``softmax(z)``, batch-mean CE, squared
      L2 over all parameter gradients) and iDLG's (hard labels) at fixed points, with their
      gradients in leakjax's NHWC layout; ``idlg_traj/*``: torch's iDLG L-BFGS losses for 3
      steps from ``dlg/x[0]``.
    * ``ig/*``: IG's cosine distance (all layers concatenated), both TVs (inversefed, breaching)
      and ``cos + 0.1 TV_inversefed`` / ``cos + 0.2 TV_breaching`` with their gradients at fixed
      points in normalized space (mean 0.5, std 0.25).
    """
    import jax

    from leakjax.models import lenet

    torch.manual_seed(0)
    out = {"torch_version": np.asarray(torch.__version__)}
    a, b, x0, f = _smooth_problem()
    out["lbfgs/a"], out["lbfgs/b"], out["lbfgs/x0"] = a, b, x0
    for case, (steps, kw) in LBFGS_CASES.items():
        for k, v in _lbfgs_trajectory(f, x0, steps, **kw).items():
            out[f"lbfgs/{case}/{k}"] = v

    model = lenet(jax.random.key(1), input_shape=(8, 8, 1), num_classes=4)
    p = {k: {n: np.asarray(v) for n, v in d.items()} for k, d in model.params.items()}
    for k, d in p.items():
        for n, v in d.items():
            out[f"lenet/params/{k}/{n}"] = v
    hw = (2, 2)
    tmodel = model_from_flax(model.params, feature_hw=hw).double()
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(2, 8, 8, 1))
    labels = np.array([2, 0])
    out["lenet/images"], out["lenet/labels"] = images, labels
    x_t = nhwc_to_nchw(images).double()
    target = client_gradient(tmodel, x_t, torch.from_numpy(labels))
    g = flax_grads_from_torch(target, p, feature_hw=hw)
    for k, d in g.items():
        for n, v in d.items():
            out[f"lenet/grad/{k}/{n}"] = v

    n_pts = 3
    xs = rng.normal(size=(n_pts, 2, 8, 8, 1))
    zs = rng.normal(size=(n_pts, 2, 4))
    out["dlg/x"], out["dlg/z"] = xs, zs
    losses, gxs, gzs = [], [], []
    for x, z in zip(xs, zs):
        v, gx, gz = _dlg_objective(tmodel, target, nhwc_to_nchw(x).double(), torch.from_numpy(z))
        losses.append(v)
        gxs.append(nchw_to_nhwc(gx))
        gzs.append(gz.numpy())
    out["dlg/loss"], out["dlg/grad_x"], out["dlg/grad_z"] = map(np.asarray, (losses, gxs, gzs))
    losses, gxs = [], []
    lab_t = torch.from_numpy(labels)
    for x in xs:
        v, gx = _idlg_objective(tmodel, target, nhwc_to_nchw(x).double(), lab_t)
        losses.append(v)
        gxs.append(nchw_to_nhwc(gx))
    out["idlg/loss"], out["idlg/grad_x"] = np.asarray(losses), np.asarray(gxs)
    traj = idlg_attack(tmodel, target, nhwc_to_nchw(xs[0]).double(), lab_t, steps=3, tol=-1.0)
    out["idlg_traj/loss"] = np.asarray(traj["losses"])
    out["idlg_traj/func_evals"] = np.asarray(traj["func_evals"])

    mean, std = 0.5, 0.25
    xi = rng.normal(size=(n_pts, 2, 8, 8, 1))
    # the shared gradient of the normalized victim: the model sees (x - mean) / std
    target_n = client_gradient(tmodel, (x_t - mean) / std, lab_t)
    gi = flax_grads_from_torch(target_n, p, feature_hw=hw)
    for k, d in gi.items():
        for n, v in d.items():
            out[f"ig/grad/{k}/{n}"] = v
    out["ig/x"] = xi
    rows = {k: [] for k in ("cos", "tv_inversefed", "tv_breaching", "total_if", "total_br")}
    grads_if, grads_br = [], []
    for x in xi:
        xt = nhwc_to_nchw(x).double()
        cos, tv_if, tot_if, g_if = _ig_objective(tmodel, target_n, xt, lab_t, tv_inversefed, 0.1)
        _, tv_br, tot_br, g_br = _ig_objective(tmodel, target_n, xt, lab_t, tv_breaching, 0.2)
        for k, v in zip(rows, (cos, tv_if, tv_br, tot_if, tot_br)):
            rows[k].append(v)
        grads_if.append(nchw_to_nhwc(g_if))
        grads_br.append(nchw_to_nhwc(g_br))
    for k, v in rows.items():
        out[f"ig/{k}"] = np.asarray(v)
    out["ig/grad_x_if"], out["ig/grad_x_br"] = np.asarray(grads_if), np.asarray(grads_br)
    # parameters and shared gradients as float32 (what leakjax computes in); values float64
    out = {
        k: (
            v.astype(np.float32)
            if k.startswith(("lenet/", "ig/grad/")) and v.dtype == np.float64
            else v
        )
        for k, v in out.items()
    }
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} arrays)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument(
        "--golden",
        default=None,
        metavar="PATH",
        help="write the test suite's golden values (e.g. tests/golden/torch_reference.npz) "
        "instead of the self-check",
    )
    a = ap.parse_args()
    if a.golden:
        golden(a.golden)
    else:
        _check(a.steps)
