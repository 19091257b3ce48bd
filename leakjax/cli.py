"""The ``leakjax`` command.

``leakjax attack``   run one attack on embedded data or image files; write results.json + grid.png
``leakjax demo``     the README's main job: iDLG and DLG on a few embedded photos, with a table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from functools import partial

import numpy as np

ATTACK_DEFAULT_STEPS = {"dlg": 300, "idlg": 300, "ggl": 100, "gias": 200, "ig": 1000}


def _positive_int(name):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name}={text!r}: expected a positive integer"
            ) from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name}={text!r}: expected a positive integer")
        return v

    return parse


def add_attack_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--attack", default="idlg", help="attack name (leakjax.attacks.ATTACKS)")
    p.add_argument("--model", default="lenet", help="model name (leakjax.models.MODELS)")
    p.add_argument(
        "--data",
        nargs="+",
        default=["photos"],
        help="an embedded dataset (digits, photos, faces) or image files (PNG/JPEG)",
    )
    p.add_argument(
        "--split", default="all", help="split of an embedded dataset: all/public/private"
    )
    p.add_argument("--labels", default=None, help="comma-separated labels, one per image file")
    p.add_argument(
        "--num-images", type=_positive_int("--num-images"), default=4, help="victims (B = 1 each)"
    )
    p.add_argument(
        "--stride",
        type=_positive_int("--stride"),
        default=1,
        help="take every k-th image of an embedded dataset (photos: 14 crops per source photo)",
    )
    p.add_argument("--num-classes", type=_positive_int("--num-classes"), default=None)
    p.add_argument("--seeds", type=_positive_int("--seeds"), default=1, help="seeds per image")
    p.add_argument("--steps", type=_positive_int("--steps"), default=None)
    p.add_argument("--restarts", type=_positive_int("--restarts"), default=1)
    p.add_argument(
        "--defense", default="", help="defense spec, e.g. 'prune=0.9' or 'clip=4,noise_std=0.01'"
    )
    p.add_argument(
        "--labels-known",
        action="store_true",
        help="threat model: the server knows the labels (otherwise they are inferred)",
    )
    p.add_argument("--strategy", default="auto", help="batching: auto, vmap, map, threads")
    p.add_argument("--chunk", type=_positive_int("--chunk"), default=16, help="runs per batch")
    p.add_argument("--out", default="runs/attack", help="output folder")
    p.add_argument("--model-seed", type=int, default=0, help="base seed of model initialisation")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.add_argument("--generator", default=None, help="generator checkpoint (ggl, gias)")
    p.add_argument("--optimizer", default="cma_es", help="ggl: cma_es, sep_cma_es, snes, ...")
    p.add_argument("--population-size", type=_positive_int("--population-size"), default=32)
    p.add_argument("--adaptive", default=None, help="ggl: simulate this defense (clip, prune...)")
    p.add_argument(
        "--local-epochs",
        type=_positive_int("--local-epochs"),
        default=None,
        help="FedAvg threat model: the client trains this many local SGD steps on its image and "
        "shares the weight delta (ig only; default: it shares one gradient)",
    )
    p.add_argument("--local-lr", type=float, default=1e-4, help="FedAvg client learning rate")
    p.add_argument("--local-momentum", type=float, default=0.0, help="FedAvg client momentum")
    p.add_argument("--tv", type=float, default=None, help="ig/gradinversion: TV weight")
    p.add_argument(
        "--preset",
        default=None,
        choices=("breaching", "inversefed", "plato"),
        help="ig: every setting at that reference's config (TV weight and form, signed, steps, "
        "label rule, best/last iterate); without it ig runs leakjax's defaults (TV 1e-4, "
        "1000 steps), which are no reference's setting",
    )


def load_data(args):
    """Embedded dataset or image files -> Dataset (images in [0, 1])."""
    from leakjax import data

    first = args.data[0]
    if len(args.data) == 1 and first in data.EMBEDDED:
        if args.labels is not None:
            raise SystemExit(f"--labels={args.labels!r} is only for image files, not {first!r}")
        ds = data.load_embedded(first, split=args.split)
        stride = max(1, int(getattr(args, "stride", 1)))
        return ds, np.arange(0, len(ds.labels), stride)[: args.num_images]
    looks_like_name = len(args.data) == 1 and not os.path.splitext(first)[1]
    if looks_like_name and not os.path.exists(first):
        raise SystemExit(
            f"--data={first!r}: not an embedded dataset {data.EMBEDDED} and not an image file"
        )
    if args.labels is None:
        raise SystemExit("--labels is required with image files: one label per file, e.g. 3,7")
    shape = (32, 32, 3) if args.model != "lenet28" else (28, 28, 1)
    ds = data.load_image_files(
        args.data, args.labels, image_shape=shape, num_classes=args.num_classes
    )
    return ds, np.arange(min(args.num_images, len(ds.labels)))


def build_model(name: str, key, input_shape, num_classes: int):
    from leakjax import models

    if name == "lenet28":
        name = "lenet"
    if name not in models.MODELS:
        raise SystemExit(f"--model={name!r}: unknown; expected one of {sorted(models.MODELS)}")
    return models.MODELS[name](key, input_shape=input_shape, num_classes=num_classes)


def attack_spec(attack_name: str, ds):
    """DLG/iDLG attack raw [0, 1] pixels (their reference); other attacks the normalized space."""
    return ds.raw_spec() if attack_name in ("dlg", "idlg") else ds.spec


def default_steps(args) -> int:
    """``--steps``, else the ig preset's ``max_steps``, else the attack's CLI default."""
    if args.steps:
        return args.steps
    preset = getattr(args, "preset", None)
    if preset is not None and args.attack == "ig":
        from leakjax.attacks.inverting_gradients import IG_PRESETS

        return IG_PRESETS[preset]["max_steps"]
    return ATTACK_DEFAULT_STEPS.get(args.attack, 300)


def build_attack(name: str, model, spec, args):
    from leakjax import attacks

    if name not in attacks.ATTACKS:
        raise SystemExit(f"--attack={name!r}: unknown; expected one of {sorted(attacks.ATTACKS)}")
    kwargs = {"spec": spec}
    preset = getattr(args, "preset", None)
    if preset is not None and name != "ig":
        raise SystemExit(f"--preset={preset!r} is for --attack ig, not {name!r}")
    if preset == "plato" and not args.labels_known:
        raise SystemExit("--preset=plato: plato's csDLG uses the true labels; add --labels-known")
    if name == "idlg" and args.labels_known:
        kwargs["labels"] = "given"
    if name in ("ig", "gradinversion"):
        # the multistep learning-rate schedule is built for the run's number of steps
        kwargs["max_steps"] = default_steps(args)
        if args.labels_known:
            kwargs["labels"] = "given"
        if getattr(args, "preset", None) is not None:
            kwargs["preset"] = args.preset
        if getattr(args, "tv", None) is not None:
            kwargs["tv_weight"] = args.tv
    if name in ("ggl", "gias"):
        from leakjax.generative.cli_commands import load_attack_generator

        kwargs["generator"] = load_attack_generator(getattr(args, "generator", None), model, name)
        if args.labels_known:
            kwargs["labels"] = "given"
        if name == "ggl":
            kwargs.update(
                strategy=args.optimizer,
                population_size=args.population_size,
                defense_simulation=args.adaptive,
            )
    return attacks.ATTACKS[name](model, **kwargs)


def local_recipe(args):
    """The client's FedAvg recipe from ``--local-*`` (``None``: the client shares a gradient)."""
    epochs = getattr(args, "local_epochs", None)
    if epochs is None:
        return None
    from leakjax import fl

    if args.attack != "ig":
        raise SystemExit(
            f"--local-epochs={epochs} with --attack={args.attack!r}: only 'ig' attacks a "
            "multi-step weight update; drop --local-epochs or use --attack ig"
        )
    if not args.labels_known:
        raise SystemExit(
            f"--local-epochs={epochs}: the multi-step attack needs the labels; add --labels-known"
        )
    for name in ("local_lr", "local_momentum"):
        v = getattr(args, name)
        if not v >= 0:
            raise SystemExit(f"--{name.replace('_', '-')}={v!r}: expected a float >= 0")
    return fl.LocalRecipe(
        epochs=epochs, batch_size=1, lr=args.local_lr, momentum=args.local_momentum
    )


def run_attack_experiment(args, *, progress=None) -> tuple[list[dict], dict]:
    """Run ``args.attack`` on every (image, seed); return (records, arrays for the grid)."""
    import jax
    import jax.numpy as jnp

    from leakjax import attacks, fl, metrics
    from leakjax.types import stack_observations, status_name

    ds, idx = load_data(args)
    steps = default_steps(args)
    num_classes = args.num_classes or ds.spec.num_classes
    if int(np.max(ds.labels[idx])) >= num_classes:
        raise SystemExit(
            f"--num-classes={num_classes}: the data has label {int(np.max(ds.labels[idx]))}; "
            "expected more classes than the largest label"
        )
    spec = attack_spec(args.attack, ds)
    recipe = local_recipe(args)
    observe = fl.observe if recipe is None else partial(fl.observe_update, recipe=recipe)
    images = jnp.asarray(ds.images[idx])
    labels = jnp.asarray(ds.labels[idx])
    defense_desc, wire = "", None
    if args.defense:
        from leakjax.defenses import parse_defense, spec_wire_format

        parse_defense(args.defense, jax.random.key(0))  # validate before any work
        wire = spec_wire_format(args.defense)

    base = jax.random.key(args.model_seed)
    obs_list, meta = [], []
    for s in range(args.seeds):
        model = build_model(
            args.model, jax.random.fold_in(base, s), ds.spec.image_shape, num_classes
        )
        for j, i in enumerate(idx):
            k_obs = jax.random.fold_in(jax.random.fold_in(base, 10_000 + s), int(i))
            defense = None
            if args.defense:
                from leakjax.defenses import parse_defense

                defense, defense_desc = parse_defense(args.defense, k_obs)
            obs = observe(
                k_obs,
                model,
                images[j : j + 1],
                labels[j : j + 1],
                spec=spec,
                defense=defense,
                reveal_labels=args.labels_known,
            )
            obs_list.append(obs)
            meta.append((s, j, int(i)))
    # one Model defines the attack program; per-seed weights travel in the Observations
    attack = build_attack(args.attack, model, spec, args)
    keys = jax.random.split(jax.random.key(args.model_seed + 1), len(obs_list))
    results, seconds = [], []
    for start in range(0, len(obs_list), args.chunk):
        chunk = stack_observations(obs_list[start : start + args.chunk])
        t0 = time.perf_counter()
        out = attacks.run_batch(
            attack,
            keys[start : start + args.chunk],
            chunk,
            steps=steps,
            restarts=args.restarts,
            strategy=args.strategy,
            progress=progress,
        )
        jax.block_until_ready(out)
        dt = time.perf_counter() - t0
        n = len(obs_list[start : start + args.chunk])
        seconds += [dt / n] * n
        results.append(out)
    out = jax.tree.map(lambda *xs: jnp.concatenate(xs), *results)
    truth = jnp.stack([images[j] for (_, j, _) in meta])
    true_labels = jnp.stack([labels[j] for (_, j, _) in meta])
    recon = out.inputs[:, 0]  # every run attacks one image (B = 1)
    mse = np.asarray(metrics.mse(recon, truth))
    psnr = np.asarray(metrics.psnr(recon, truth))
    ssim = np.asarray(metrics.ssim(recon, truth))
    bits = None
    if wire is not None:
        from leakjax.defenses import upload_bits

        bits = [float(upload_bits(o.update, wire)) for o in obs_list]
    records = []
    for r, (s, _, i) in enumerate(meta):
        records.append(
            dict(
                image=i,
                seed=s,
                attack=args.attack,
                model=args.model,
                data=" ".join(args.data),
                split=args.split if args.data[0] in ("digits", "photos", "faces") else "files",
                num_classes=num_classes,
                steps=steps,
                mse=float(mse[r]),
                psnr=float(psnr[r]),
                ssim=float(ssim[r]),
                label=int(out.labels[r][0]),
                true_label=int(true_labels[r]),
                label_correct=bool(int(out.labels[r][0]) == int(true_labels[r])),
                status=status_name(int(out.status[r])),
                matching_loss=float(out.loss[r]),
                seconds=float(seconds[r]),
                defense=defense_desc,
                local_epochs=None if recipe is None else recipe.epochs,
                upload_bits=None if bits is None else bits[r],
            )
        )
    arrays = dict(truth=np.asarray(truth), recon=np.asarray(recon), meta=meta)
    return records, arrays


def _summary_table(records: Sequence[dict]) -> str:
    by = {}
    for r in records:
        by.setdefault(r["attack"], []).append(r)
    lines = [
        f"{'attack':8s} {'runs':>4s} {'MSE<1e-3':>9s} {'median MSE':>11s} {'median PSNR':>12s} "
        f"{'mean SSIM':>10s} {'label acc':>10s} {'s/run':>7s}",
    ]
    for name, rs in by.items():
        mse = np.array([r["mse"] for r in rs])
        lines.append(
            f"{name:8s} {len(rs):4d} {np.mean(mse < 1e-3):9.0%} {np.median(mse):11.2e} "
            f"{np.median([r['psnr'] for r in rs]):11.1f}dB {np.mean([r['ssim'] for r in rs]):10.3f} "
            f"{np.mean([r['label_correct'] for r in rs]):10.0%} "
            f"{np.mean([r['seconds'] for r in rs]):7.2f}"
        )
    return "\n".join(lines)


def _write_outputs(out_dir: str, records, grid_rows, truth, captions, title):
    from leakjax.report import save_grid

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(records, f, indent=1)
    save_grid(os.path.join(out_dir, "grid.png"), truth, grid_rows, captions=captions, title=title)


def _progress_bar(total: int, desc: str, quiet: bool):
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr)
    return (lambda n: bar.update(n)), bar.close


def cmd_attack(args) -> int:
    total = args.num_images * args.seeds
    update, close = _progress_bar(total, args.attack, args.quiet)
    records, arrays = run_attack_experiment(args, progress=update)
    close()
    first_seed = [k for k, (s, _, _) in enumerate(arrays["meta"]) if s == 0]
    rows = {args.attack: arrays["recon"][first_seed]}
    captions = {
        args.attack: [f"{records[k]['psnr']:.1f}dB {records[k]['status'][:4]}" for k in first_seed]
    }
    _write_outputs(
        args.out,
        records,
        rows,
        arrays["truth"][first_seed],
        captions,
        f"{args.attack} on {' '.join(args.data)} ({args.model}, seed 0)",
    )
    if not args.quiet:
        print(_summary_table(records))
        print(f"wrote {os.path.join(args.out, 'results.json')} and grid.png")
    return 0


def cmd_demo(args) -> int:
    """iDLG and DLG on a few embedded photos (DLG's CIFAR-100 setting: sigmoid LeNet, 100 classes)."""
    all_records, rows, captions, truth = [], {}, {}, None
    for name in ("idlg", "dlg"):
        a = argparse.Namespace(
            attack=name,
            model="lenet",
            data=["photos"],
            split="all",
            labels=None,
            num_images=args.num_images,
            stride=14,  # one crop of each source photograph
            num_classes=100,
            seeds=1,
            steps=args.steps,
            restarts=1,
            defense="",
            labels_known=False,
            strategy="auto",
            chunk=16,
            out=args.out,
            model_seed=0,
            quiet=args.quiet,
        )
        update, close = _progress_bar(args.num_images, name, args.quiet)
        recs, arrays = run_attack_experiment(a, progress=update)
        close()
        all_records += recs
        rows[name] = arrays["recon"]
        captions[name] = [f"{r['psnr']:.1f}dB y={r['label']}" for r in recs]
        truth = arrays["truth"]
    _write_outputs(
        args.out,
        all_records,
        rows,
        truth,
        captions,
        f"iDLG and DLG, sigmoid LeNet (100 classes), {args.steps} L-BFGS steps",
    )
    print(_summary_table(all_records))
    print(
        f"wrote {os.path.join(args.out, 'results.json')} and {os.path.join(args.out, 'grid.png')}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="leakjax", description="Gradient-leakage attacks and defenses for FL, in JAX."
    )
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("attack", help="run an attack; write results.json and grid.png")
    add_attack_arguments(a)
    a.set_defaults(func=cmd_attack)
    d = sub.add_parser("demo", help="iDLG and DLG on embedded photos (the README's main job)")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--num-images", type=_positive_int("--num-images"), default=4)
    d.add_argument("--steps", type=_positive_int("--steps"), default=300)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)
    from leakjax.generative.cli_commands import add_train_generator_arguments, cmd_train_generator

    t = sub.add_parser("train-generator", help="train a GGL generator on a public split")
    add_train_generator_arguments(t)
    t.set_defaults(func=cmd_train_generator)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, KeyError, TypeError) as e:
        print(f"leakjax {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
