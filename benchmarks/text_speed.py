"""TAG speed: leakjax against a PyTorch implementation of the same model and objective (issue 13).

Both sides run TAG (card 18; :mod:`leakjax.attacks.tag`) on breaching's ``transformer3``
(3 post-LN blocks, d 96, 8 heads, feed-forward 1536, learnable positions, untied head) with the
vocabulary of the pydoc BPE tokenizer (``--vocab``), one ``--seq-len``-token pydoc sequence,
and the same

* initial weights: leakjax's Flax params, copied into the torch model (kernels transposed);
* observed gradient: leakjax's ``observe_text`` update (torch's own gradient from the same ids is
  compared with it and the max difference reported);
* starting point: the embeddings and label logits that leakjax's ``tag`` init draws for the key;
* objective and optimizer: ``0.5 * sum_l (||d_l||^2 + alpha w_l ||d_l||_1)`` over the layers
  in module order without the token table, per-unknown gradient clipping to norm 1,
  ``torch.optim.AdamW(lr, betas (0.9, 0.999), eps 1e-6, weight_decay 0.01)`` with the warm-up +
  linear schedule set per step.

Measured in one process, both sides warm (leakjax compiled ahead with ``lower().compile()``,
compile time reported separately; torch after one warm-up run), interleaved repeats: seconds per
``--steps`` steps, iterations per second, the ratio (median and range over ``--repeats``), and
the token accuracy each side reaches.

Usage:
  flock -x /tmp/leakjax-cpu.lock python benchmarks/text_speed.py --quiet   # full: 1000 steps
  python benchmarks/text_speed.py --smoke --steps 60                        # tiny, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

from leakjax import data, metrics, models
from leakjax.attacks import observe_text, run, tag
from leakjax.attacks.tag import tag_schedule
from leakjax.attacks.text_common import matched_paths
from leakjax.types import get_path


def machine_info() -> dict:
    try:
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except Exception:  # noqa: BLE001
        commit = None
    return dict(
        jax=jax.__version__,
        torch=torch.__version__,
        backend=jax.default_backend(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        platform=platform.platform(),
        python=platform.python_version(),
        loadavg=os.getloadavg(),
        commit=commit,
        xla_flags=os.environ.get("XLA_FLAGS", ""),
    )


# ------------------------------------------------------------------------------------------
# the torch side: the same network, written out (no nn.TransformerEncoderLayer fast paths)
# ------------------------------------------------------------------------------------------


def torch_params(model) -> dict[tuple, torch.Tensor]:
    """leakjax params -> torch tensors keyed by the same paths (kernels kept (in, out))."""
    out = {}
    for path in model.layer_order:
        leaf = np.asarray(get_path(model.params, path), np.float32)
        out[tuple(path)] = torch.tensor(leaf, dtype=torch.float32, requires_grad=True)
    return out


def torch_forward(p, emb, *, num_layers, num_heads, causal):
    """Next-token logits ``(B, T - 1, V)`` of the leakjax LM for token embeddings ``emb``."""
    b, t, d = emb.shape
    dh = d // num_heads
    x = emb + p[("pos_embed", "embedding")][:t][None]
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for i in range(num_layers):
        blk = f"block_{i}"

        def lin(name, h, blk=blk):
            return h @ p[(blk, name, "kernel")] + p[(blk, name, "bias")]

        def ln(name, h, blk=blk):
            return torch.nn.functional.layer_norm(
                h, (d,), p[(blk, name, "scale")], p[(blk, name, "bias")], eps=1e-5
            )

        q, k, v = lin("attn_qkv", x).split(d, dim=-1)
        q = q.reshape(b, t, num_heads, dh).transpose(1, 2)
        k = k.reshape(b, t, num_heads, dh).transpose(1, 2)
        v = v.reshape(b, t, num_heads, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / dh**0.5
        if causal:
            s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
        ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = ln("ln1", x + lin("attn_out", ctx))
        x = ln("ln2", x + lin("mlp_out", torch.relu(lin("mlp_in", x))))
    h = x[:, :-1]
    return h @ p[("head", "kernel")] + p[("head", "bias")]


def torch_loss(p, emb, labels, cfg):
    logits = torch_forward(p, emb, **cfg)
    v = logits.shape[-1]
    if labels.dtype == torch.long:
        return torch.nn.functional.cross_entropy(logits.reshape(-1, v), labels.reshape(-1))
    logp = logits.log_softmax(-1)
    return -(labels * logp).sum(-1).mean()


def torch_tag(p, paths, target, e0, z0, *, steps, cfg, lr=0.05, alpha=0.1, warmup=50, decay=1000):
    """TAG in torch from (e0, z0); returns the final embeddings and label logits."""
    e = e0.clone().requires_grad_(True)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([e, z], lr=lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
    sched = tag_schedule(lr, warmup_steps=warmup, decay_steps=decay)
    lrs = [float(sched(s)) for s in range(steps)]
    plist = [p[q] for q in paths]
    n = len(paths)
    weights = [(n - i) / n for i in range(n)]
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = lrs[s]
        opt.zero_grad()
        loss = torch_loss(p, e, z.softmax(-1), cfg)
        grads = torch.autograd.grad(loss, plist, create_graph=True)
        obj = 0.0
        for g, t, w in zip(grads, target, weights):
            d = g - t
            obj = obj + d.pow(2).sum() + alpha * w * d.abs().sum()
        obj = 0.5 * obj
        obj.backward(inputs=[e, z])
        with torch.no_grad():
            for x in (e, z):
                norm = x.grad.norm()
                if norm > 1.0:
                    x.grad.mul_(1.0 / (norm + 1e-6))
        opt.step()
    return e.detach(), z.detach()


# ------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seq-len", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=1024, help="pydoc BPE vocabulary size")
    ap.add_argument("--sequence", type=int, default=0, help="index of the private pydoc window")
    ap.add_argument("--non-causal", action="store_true", help="breaching's unmasked attention")
    ap.add_argument("--smoke", action="store_true", help="tiny model, <= 60 steps, 1 repeat")
    ap.add_argument("--quiet", action="store_true", help="record: ran under flock -x (quiet)")
    ap.add_argument("--out", default="benchmarks/results/text_speed.json")
    args = ap.parse_args(argv)

    tok = data.pydoc_tokenizer(args.vocab)
    causal = not args.non_causal
    if args.smoke:
        args.steps, args.repeats, args.seq_len = min(args.steps, 60), 1, 4
        model = models.transformer_lm(
            jax.random.key(0),
            vocab_size=tok.vocab_size,
            context=4,
            num_layers=1,
            d_model=16,
            num_heads=2,
            d_ff=32,
            causal=causal,
        )
        cfg = dict(num_layers=1, num_heads=2, causal=causal)
    else:
        model = models.transformer3(
            jax.random.key(0), vocab_size=tok.vocab_size, context=args.seq_len, causal=causal
        )
        cfg = dict(num_layers=3, num_heads=8, causal=causal)
    ds = data.load_pydoc(seq_len=args.seq_len, tokenizer=tok, num_sequences=args.sequence + 1)
    ids = jnp.asarray(ds.token_ids[[args.sequence]])
    obs = jax.jit(lambda k: observe_text(k, model, ids))(jax.random.key(1))

    atk = tag(model, decay_steps=1000)
    key = jax.random.key(2)
    fn = jax.jit(lambda k: run(atk, k, obs, steps=args.steps))
    t0 = time.perf_counter()
    compiled = fn.lower(key).compile()
    compile_s = time.perf_counter() - t0

    # the same start, the same weights, the same observed gradient
    flat0 = np.asarray(atk.init(jax.random.split(key, 1)[0], obs).flat)  # run's restart key
    b, t, d = 1, args.seq_len, model.extra["d_model"]
    e0 = torch.tensor(flat0[: b * t * d].reshape(b, t, d))
    z0 = torch.tensor(flat0[b * t * d :].reshape(b, t - 1, model.num_classes))
    p = torch_params(model)
    paths = matched_paths(model)
    target = [torch.tensor(np.asarray(get_path(obs.update, q))) for q in paths]
    emb = p[("token_embed", "embedding")][torch.tensor(np.asarray(ids), dtype=torch.long)]
    g_t = torch.autograd.grad(
        torch_loss(p, emb, torch.tensor(np.asarray(ids[:, 1:]), dtype=torch.long), cfg),
        [p[q] for q in paths],
    )
    grad_diff = max(float((a - b_).abs().max()) for a, b_ in zip(g_t, target))

    jax.block_until_ready(compiled(key))  # warm
    torch_tag(p, paths, target, e0, z0, steps=min(args.steps, 5), cfg=cfg)  # warm
    jx, th = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        r = jax.block_until_ready(compiled(key))
        jx.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        e_t, z_t = torch_tag(p, paths, target, e0, z0, steps=args.steps, cfg=cfg)
        th.append(time.perf_counter() - t0)
    acc_jax = float(metrics.token_accuracy(r.inputs, ids).mean())
    # torch decoding: the same nearest-token rule (and last-position fill) as leakjax
    e_np = jnp.asarray(e_t.numpy())
    lab = jnp.argmax(jnp.asarray(z_t.numpy()), -1)
    table = model.params["token_embed"]["embedding"]
    if causal:
        e_np = e_np.at[:, -1].set(table[lab[:, -1]])
    from leakjax.attacks import nearest_tokens

    acc_torch = float(metrics.token_accuracy(nearest_tokens(e_np, table), ids).mean())
    # trajectory agreement: the same start and objective should give the same embeddings
    # (the last position of a causal LM is replaced by the label's embedding on both sides)
    traj_diff = float(jnp.abs(e_np[:, :-1] - r.raw_inputs[:, :-1]).max())
    ratios = [a / b_ for a, b_ in zip(th, jx)]
    out = dict(
        command=" ".join([os.path.basename(sys.executable), *sys.argv]),
        quiet=args.quiet,
        smoke=args.smoke,
        steps=args.steps,
        seq_len=args.seq_len,
        vocab_size=tok.vocab_size,
        causal=causal,
        sequence_source=f"{ds.sources[args.sequence]} ({data.PYDOC_SOURCE})",
        compile_s=compile_s,
        leakjax_s=jx,
        torch_s=th,
        leakjax_it_per_s=float(args.steps / np.median(jx)),
        torch_it_per_s=float(args.steps / np.median(th)),
        speedup_median=float(np.median(ratios)),
        speedup_range=[float(min(ratios)), float(max(ratios))],
        token_accuracy=dict(leakjax=acc_jax, torch=acc_torch),
        observed_grad_max_abs_diff=grad_diff,
        final_embeddings_max_abs_diff=traj_diff,
        machine=machine_info(),
    )
    print(json.dumps(out, indent=1))
    if not args.smoke:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
