"""GGL speed: fitness evaluations per second, vmapped population vs a sequential candidate loop.

Same generator (the digits checkpoint of ``benchmarks/train_generator.py``, or a fresh one with
the same architecture if it is missing), same model (the 28x28 sigmoid LeNet), same victim,
one process. Measured, interleaved A/B/C, after a warm-up call of each:

* ``vmap_generation``: one GGL step (CMA-ES ask -> ``jax.vmap`` of the fitness over the
  population -> tell), jitted; evals/s = population / time per step.
* ``vmap_fitness``: the population's fitness alone, one ``jax.vmap``, jitted.
* ``sequential``: the reference's pattern: a jitted single-candidate fitness called from a
  Python loop, one candidate at a time (one dispatch + host sync per candidate, as nevergrad's
  ask/evaluate/tell loop in GGL's code does).
* ``torch_sequential`` (when torch is installed): the reference's pattern in the reference's
  framework: a PyTorch generator of the same architecture (Linear -> LayerNorm -> ConvTranspose
  stack -> Conv -> bilinear upsample -> tanh, random weights: the cost does not depend on their
  values) and the same sigmoid LeNet, one candidate at a time: generate, client gradient with
  ``create_graph=False``, L2 averaged over layers, ``.item()``. No nevergrad overhead is
  counted, so the reference's real cost is higher still.

    python benchmarks/ggl_speed.py            # population 32 and 128, 5 repeats
    python benchmarks/ggl_speed.py --smoke
    python benchmarks/ggl_speed.py --populations 128 512 --repeats 5 --profile \
        --out benchmarks/results/ggl_speed_profile.json   # plus a jax.profiler op profile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _ig_common import matmul_gflops  # noqa: E402
from _op_profile import summarize  # noqa: E402
from throughput_levers import profile_ops  # noqa: E402

from leakjax import attacks, fl, models  # noqa: E402
from leakjax.attacks.objectives import mean_layer_l2_distance  # noqa: E402
from leakjax.data import load_embedded  # noqa: E402
from leakjax.fl.client import client_gradient  # noqa: E402
from leakjax.generative import dcgan_generator, load_generator  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
CKPT = os.path.join(RESULTS, "ggl_generator_digits.msgpack")


def torch_fitness_fn(latent_dim, width, num_classes, final_upsample, threads):
    """A PyTorch single-candidate GGL fitness of the same shapes (see the module docstring)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    sys.path.insert(0, HERE)
    from torch_reference import SigmoidLeNet
    from torch_reference import client_gradient as torch_client_gradient

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    h = 28 // final_upsample  # 14: one stride-2 stage from 7x7
    k, h0 = 1, 7
    ch = width * 2**k

    class Gen(nn.Module):
        def __init__(self):
            super().__init__()
            self.project = nn.Linear(latent_dim + num_classes, h0 * h0 * ch)
            self.norm0 = nn.LayerNorm(ch)
            self.up0 = nn.ConvTranspose2d(ch, width, 4, stride=2, padding=1)
            self.norm1 = nn.LayerNorm(width)
            self.to_image = nn.Conv2d(width, 1, 3, padding=1)

        def forward(self, z, y):
            z = torch.cat([z, F.one_hot(y, num_classes).float()], -1)
            x = self.project(z).view(-1, h0, h0, ch)
            x = F.relu(self.norm0(x)).permute(0, 3, 1, 2)
            x = self.up0(x).permute(0, 2, 3, 1)
            x = F.relu(self.norm1(x)).permute(0, 3, 1, 2)
            x = self.to_image(x)
            x = F.interpolate(x, size=(h * final_upsample,) * 2, mode="bilinear")
            return torch.tanh(x)

    gen = Gen().eval()
    net = SigmoidLeNet(channels=1, hidden=588, num_classes=10)
    y = torch.tensor([3])
    target = [g.detach() for g in torch_client_gradient(net, torch.rand(1, 1, 28, 28), y)]

    def fitness(u: np.ndarray) -> float:
        with torch.no_grad():
            x = (gen(torch.tanh(torch.from_numpy(np.array(u))[None]), y) + 1) / 2
        x = (x - 0.5) / 0.5
        grads = torch_client_gradient(net, x, y)
        loss = sum(((a - b) ** 2).sum() for a, b in zip(grads, target)) / len(grads)
        return float(loss.item())

    return fitness


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--populations", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON path (default: results/ggl_speed.json)")
    ap.add_argument("--note", default="", help="recorded in the JSON (e.g. the lock used)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also trace one generation and the population's fitness alone with jax.profiler "
        "(op kinds, top ops with their HLO and source op) and the matmul rate",
    )
    ap.add_argument("--profile-calls", type=int, default=20)
    args = ap.parse_args(argv)
    if args.smoke:
        args.populations, args.repeats = [8], 2
    os.makedirs(RESULTS, exist_ok=True)

    priv = load_embedded("digits", split="private", num_images=1)
    spec = priv.spec
    if os.path.exists(CKPT):
        gen, gen_src = load_generator(CKPT, image_shape=spec.image_shape), CKPT
    else:
        gen = dcgan_generator(
            jax.random.key(0), latent_dim=32, width=16, conditional=True, final_upsample=2
        )
        gen_src = "fresh (checkpoint missing)"
    model = models.lenet(jax.random.key(0), input_shape=(28, 28, 1), num_classes=10)
    obs = fl.observe(jax.random.key(1), model, priv.images[:1], priv.labels[:1], spec=spec)
    grad_fn = client_gradient(model)
    y = jnp.asarray(priv.labels[:1])

    def fitness(u):
        x = spec.normalize(gen.images01(gen.params, jnp.tanh(u)[None], y))
        return mean_layer_l2_distance(grad_fn(obs.params, x, y), obs.update)

    single = jax.jit(fitness)
    try:
        torch_fit = torch_fitness_fn(
            gen.latent_dim, 16, 10, int(gen.final_upsample), args.torch_threads
        )
    except ImportError:
        torch_fit = None
    rows = []
    for pop in args.populations:
        attack = attacks.ggl(model, gen, spec=spec, population_size=pop)
        state = jax.jit(attack.init)(jax.random.key(2), obs)
        step = jax.jit(attack.step)
        vfit = jax.jit(jax.vmap(fitness))
        cands = jax.random.normal(jax.random.key(3), (pop, gen.latent_dim))
        # warm-up (compile); twice for the step: evosax's initial state holds weak-typed
        # scalars, so the state returned by the first step has a different type signature
        state, _ = step(state, obs)
        state, _ = step(state, obs)
        jax.block_until_ready(state)
        jax.block_until_ready(vfit(cands))
        jax.block_until_ready(single(cands[0]))
        t = dict(vmap_generation=[], vmap_fitness=[], sequential=[])
        cands_np = np.asarray(cands, np.float32)
        if torch_fit is not None:
            t["torch_sequential"] = []
            torch_fit(cands_np[0])
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            state, loss = step(state, obs)
            jax.block_until_ready(loss)
            t["vmap_generation"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            jax.block_until_ready(vfit(cands))
            t["vmap_fitness"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            vals = [float(single(cands[i])) for i in range(pop)]  # one at a time, host sync
            t["sequential"].append(time.perf_counter() - t0)
            del vals
            if torch_fit is not None:
                t0 = time.perf_counter()
                for i in range(pop):
                    torch_fit(cands_np[i])
                t["torch_sequential"].append(time.perf_counter() - t0)
        med = {k: float(np.median(v)) for k, v in t.items()}
        row = dict(
            population=pop,
            evals_per_s={k: pop / v for k, v in med.items()},
            median_seconds=med,
            speedup_generation_vs_sequential=med["sequential"] / med["vmap_generation"],
            speedup_fitness_vs_sequential=med["sequential"] / med["vmap_fitness"],
        )
        row["seconds_per_repeat"] = {k: [float(x) for x in v] for k, v in t.items()}
        if torch_fit is not None:
            row["speedup_generation_vs_torch_sequential"] = (
                med["torch_sequential"] / med["vmap_generation"]
            )
            per = [a / b for a, b in zip(t["torch_sequential"], t["vmap_generation"])]
            row["speedup_generation_vs_torch_sequential_range"] = [min(per), max(per)]
            per = [a / b for a, b in zip(t["torch_sequential"], t["vmap_fitness"])]
            row["speedup_fitness_vs_torch_sequential"] = (
                med["torch_sequential"] / med["vmap_fitness"]
            )
            row["speedup_fitness_vs_torch_sequential_range"] = [min(per), max(per)]
        if args.profile:
            row["profile"] = _profile(step, state, obs, vfit, cands, args.profile_calls)
        rows.append(row)
        print(
            f"population {pop:4d}: evals/s vmap generation {row['evals_per_s']['vmap_generation']:9.0f}"
            f" | vmap fitness {row['evals_per_s']['vmap_fitness']:9.0f}"
            f" | sequential {row['evals_per_s']['sequential']:8.0f}"
            f" | speedup {row['speedup_generation_vs_sequential']:.1f}x (generation),"
            f" {row['speedup_fitness_vs_sequential']:.1f}x (fitness)"
            + (
                f" | torch sequential {row['evals_per_s']['torch_sequential']:8.0f}"
                f" ({row['speedup_generation_vs_torch_sequential']:.1f}x)"
                if torch_fit is not None
                else ""
            ),
            flush=True,
        )
    if args.profile:
        for row in rows:
            for part in ("generation", "fitness"):
                p = row["profile"][part]
                print(
                    f"  population {row['population']} {part}: op time "
                    f"{p['op_time_ms_per_call']:.1f} ms; "
                    + ", ".join(f"{k} {v['share']:.0%}" for k, v in list(p["kinds"].items())[:5])
                )
    record = dict(
        benchmark="ggl_speed",
        matmul_gflops=matmul_gflops() if args.profile else None,
        command=" ".join(["python", *sys.argv]),
        note=args.note,
        generator=os.path.relpath(gen_src, HERE) if gen_src == CKPT else gen_src,
        model="lenet 28x28x1 sigmoid, 10 classes",
        victim=dict(dataset="digits", split="private", index=int(priv.indices[0])),
        repeats=args.repeats,
        rows=rows,
        machine=dict(
            platform=platform.platform(),
            cpu_count=os.cpu_count(),
            jax=jax.__version__,
            backend=jax.default_backend(),
            loadavg=os.getloadavg(),
            torch=_torch_version(),
            torch_threads=args.torch_threads,
        ),
    )
    name = "ggl_speed_smoke.json" if args.smoke else "ggl_speed.json"
    out = args.out or os.path.join(RESULTS, name)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    print(f"load average {os.getloadavg()}; wrote {out}")


def _profile(step, state, obs, vfit, cands, calls):
    """Op profile of one generation (ask, fitness, tell) and of the fitness alone."""
    out = {}
    for part, fn, fargs in (("generation", step, (state, obs)), ("fitness", vfit, (cands,))):
        hlo_text = fn.lower(*fargs).compile().as_text()
        out[part] = summarize(profile_ops(fn, fargs, calls), hlo_text)
    return out


def _torch_version():
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


if __name__ == "__main__":
    main()
