"""``leakjax train-generator`` and the generator options of ``leakjax attack`` (wired in cli.py).

Kept here so the command's logic lives next to the code it drives; ``leakjax.cli`` only adds
the subparser and calls :func:`cmd_train_generator`. The progress bar (tqdm) is created only
when the command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def add_train_generator_arguments(p: argparse.ArgumentParser) -> None:
    from leakjax.cli.common import positive_int
    from leakjax.data import EMBEDDED

    p.add_argument(
        "--dataset", default="digits", choices=EMBEDDED,
        help="embedded dataset whose public split trains the generator (victims come from "
        "private)",
    )  # fmt: skip
    p.add_argument("--steps", type=positive_int("--steps"), default=1500, help="generator updates")
    p.add_argument(
        "--batch-size", type=positive_int("--batch-size"), default=32, help="images per update"
    )
    p.add_argument(
        "--latent-dim", type=positive_int("--latent-dim"), default=32, help="latent vector size"
    )
    p.add_argument(
        "--width", type=positive_int("--width"), default=16,
        help="base channel width w of the DCGAN generator and critic (w, 2w, 4w... towards the latent)",
    )  # fmt: skip
    p.add_argument(
        "--final-upsample", type=positive_int("--final-upsample"), default=2,
        help="run the generator's convolutions at 1/F resolution and upsample bilinearly at the end",
    )  # fmt: skip
    p.add_argument(
        "--loss", default="dcgan", choices=("dcgan", "wgan-gp"),
        help="adversarial loss: DCGAN's or WGAN with gradient penalty",
    )  # fmt: skip
    p.add_argument(
        "--unconditional", action="store_true",
        help="no class conditioning (default: conditioned on the label, as GGL's generator)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and batches")
    p.add_argument("--out", default="runs/generator.msgpack", help="checkpoint path (msgpack)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or note")


def train_public_generator(
    dataset: str,
    *,
    seed: int = 0,
    steps: int = 1500,
    batch_size: int = 32,
    latent_dim: int = 32,
    width: int = 16,
    final_upsample: int = 2,
    loss: str = "dcgan",
    conditional: bool = True,
    progress: bool = True,
):
    """Train a DCGAN generator on the **public** split of an embedded dataset.

    The split and a hash of its indices are recorded in the generator's ``trained_on``
    metadata, so every result that uses the checkpoint can say which images it saw.
    ``progress`` shows a tqdm bar (on stderr) with the critic and generator losses.
    Returns ``(generator, history, public_dataset)``.
    """
    import hashlib

    import jax
    import numpy as np

    from leakjax.data import load_embedded
    from leakjax.generative import train_generator

    ds = load_embedded(dataset, split="public")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"train generator ({loss})", unit="step", file=sys.stderr)

    def callback(step, metrics):
        if bar is not None:
            bar.update(step - bar.n)
            bar.set_postfix(
                critic=f"{metrics['critic_loss']:.3f}", gen=f"{metrics['gen_loss']:.3f}"
            )

    sha = hashlib.sha256(np.asarray(ds.indices, np.int64).tobytes()).hexdigest()[:16]
    gen, hist = train_generator(
        jax.random.key(seed),
        ds.images,
        ds.labels,
        steps=steps,
        batch_size=batch_size,
        latent_dim=latent_dim,
        width=width,
        num_classes=ds.spec.num_classes,
        conditional=conditional,
        final_upsample=final_upsample,
        loss=loss,
        log_every=min(50, steps),
        callback=callback,
        trained_on=dict(dataset=dataset, split="public", indices_sha=sha),
    )
    if bar is not None:
        bar.close()
    return gen, hist, ds


def cmd_train_generator(args) -> int:
    from leakjax.cli.common import CLIError, check_out_dir
    from leakjax.data import EMBEDDED
    from leakjax.generative import save_generator

    if args.dataset not in EMBEDDED:
        raise CLIError(f"--dataset {args.dataset}: expected one of {', '.join(EMBEDDED)}")
    if os.path.isdir(args.out):
        raise CLIError(f"--out {args.out}: is a folder; expected a checkpoint file path")
    check_out_dir(os.path.dirname(os.path.abspath(args.out)), "--out")  # before training
    gen, hist, ds = train_public_generator(
        args.dataset,
        seed=args.seed,
        steps=args.steps,
        batch_size=args.batch_size,
        latent_dim=args.latent_dim,
        width=args.width,
        final_upsample=args.final_upsample,
        loss=args.loss,
        conditional=not args.unconditional,
        progress=not args.quiet,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_generator(args.out, gen)
    with open(os.path.splitext(args.out)[0] + "_history.json", "w") as f:
        json.dump(hist, f)
    if not args.quiet:
        print(
            f"trained on {args.dataset}/public ({len(ds.labels)} images) in "
            f"{hist['wall_time_s']:.0f} s; wrote {args.out}"
        )
    return 0


def load_attack_generator(path: str | None, model, attack: str):
    """Load ``--generator PATH`` for a generative attack, with errors that say what to do."""
    from leakjax.generative import load_generator

    if not path:
        raise ValueError(
            f"--attack {attack} needs --generator PATH (a checkpoint from `leakjax "
            "train-generator` or leakjax.generative.save_generator)"
        )
    gen = load_generator(path)
    if tuple(gen.image_shape) != tuple(model.input_shape):
        raise ValueError(
            f"--generator {path}: generates images of shape {tuple(gen.image_shape)} but the "
            f"model expects {tuple(model.input_shape)}; train a generator on data of that shape"
        )
    if gen.conditional and gen.num_classes != model.num_classes:
        raise ValueError(
            f"--generator {path}: conditional on {gen.num_classes} classes but the model has "
            f"{model.num_classes}; pass --num-classes {gen.num_classes} or use another generator"
        )
    return gen
