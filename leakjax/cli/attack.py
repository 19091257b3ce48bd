"""``leakjax attack`` and ``leakjax demo``: a single-cell sweep from flags, run into a store.

The flags become one :class:`leakjax.sweep.Sweep` (one attack, model, data, threat model and
defense; victims x seeds runs), which :func:`leakjax.sweep.run_sweep` runs into
``OUT/store.sqlite``, committing finished runs as it goes. ``results.json``, ``grid.png`` and
the printed table are then written from the store's rows and blobs alone, so an interrupted
command loses no finished run and the same command resumes.

Every flag is checked before anything is loaded or compiled (:func:`check_attack_args`):
names, numbers, the output folder, and the combinations that cannot work (an attack that needs
something the model lacks, labels that the threat model does not give).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from leakjax.cli import catalog
from leakjax.cli.common import (
    CLIError,
    bounded_float,
    bounded_int,
    check_out_dir,
    nonnegative_int,
    positive_int,
)

#: Models with BatchNorm statistics (GradInversion's BN prior needs them).
BN_MODELS = ("convnet", "resnet18", "resnet20")
#: Models whose first layer is fully connected with a bias (the analytic attack needs it).
FC_FIRST_MODELS = ("mlp",)
DELTA_ATTACKS = ("ig", "gradinversion")
GENERATIVE = ("ggl", "gias")
STORE_NAME = "store.sqlite"


class Interrupted(Exception):
    """Ctrl-C during a command: ``kept`` of ``total`` runs are in ``store``."""

    def __init__(self, kept: int, total: int, store: str):
        super().__init__(
            f"interrupted: {kept} of {total} runs kept in {store}; run the same command again "
            "to resume"
        )
        self.kept, self.total, self.store = kept, total, store


# --------------------------------------------------------------------------------------------
# flags
# --------------------------------------------------------------------------------------------


def add_attack_arguments(p: argparse.ArgumentParser) -> None:
    from leakjax.attacks import ATTACKS, LABEL_RULES, TEXT_ATTACKS
    from leakjax.attacks.ggl import GGL_STRATEGIES
    from leakjax.defenses.simulate import SIMULATIONS
    from leakjax.models import MODELS, TEXT_MODELS
    from leakjax.sweep.engine import STRATEGIES

    g = p.add_argument_group("what to attack")
    g.add_argument(
        "--attack", default="idlg", choices=[*sorted(ATTACKS), *sorted(TEXT_ATTACKS)],
        metavar="NAME",
        help="attack (list below, with default steps); text data takes a text attack (tag, "
        "text_dlg, token_set)",
    )  # fmt: skip
    g.add_argument(
        "--model", default="lenet", choices=[*sorted(MODELS), *sorted(TEXT_MODELS)],
        metavar="NAME",
        help="model (list below); input shape and classes follow the data; text data takes a "
        "text model (transformer3, transformer_lm, transformer_classifier)",
    )  # fmt: skip
    g.add_argument(
        "--width", type=positive_int("--width"), default=None,
        help="model width: lenet/convnet channels, resnet multiplier, mlp hidden units "
        "(default: the model's own: lenet 12, convnet 64, resnet 1, mlp 128)",
    )  # fmt: skip
    g.add_argument(
        "--num-classes", type=positive_int("--num-classes"), default=None,
        help="classes of the model's output (default: the dataset's)",
    )  # fmt: skip
    g.add_argument(
        "--model-seed", type=nonnegative_int("--model-seed"), default=0,
        help="seed of the model's initialisation (one model for every run)",
    )  # fmt: skip
    d = p.add_argument_group("victims")
    d.add_argument(
        "--data", nargs="+", default=["photos"], metavar="NAME_OR_FILE",
        help="an embedded dataset (digits, photos, faces), embedded text (text-random, "
        "text-pydoc), a prepared tfds dataset, or PNG/JPEG files",
    )  # fmt: skip
    d.add_argument(
        "--split", default="private",
        help="split of the dataset: private, public or all for embedded sets (victims come from "
        "private; generators train on public), a tfds split such as test",
    )  # fmt: skip
    d.add_argument(
        "--labels", default=None,
        help="image files only: one comma-separated integer label per file, e.g. 3,7",
    )  # fmt: skip
    d.add_argument(
        "--image-shape", default="32,32,3",
        help="image files only: H,W,C they are centre-cropped and resized to (C 1 or 3)",
    )  # fmt: skip
    d.add_argument(
        "--num-images", type=positive_int("--num-images"), default=4,
        help="victims, one image each (B = 1), the first of the split in its interleaved order "
        "(different photographs, faces or digits)",
    )  # fmt: skip
    x = p.add_argument_group("text victims (--data text-random | text-pydoc)")
    x.add_argument(
        "--seq-len", type=bounded_int("--seq-len", 1, 512), default=None,
        help="tokens per sequence, in [1, 512] (default 16, breaching's TAG case; the model's "
        "context follows it)",
    )  # fmt: skip
    x.add_argument(
        "--vocab-size", type=bounded_int("--vocab-size", 2, 65536), default=None,
        help="text-random: token ids in [0, V), V in [2, 65536]; text-pydoc: the tokenizer's "
        "target size (default 1024)",
    )  # fmt: skip
    x.add_argument(
        "--tokenizer", default=None,
        help="text-pydoc: bpe (default) or word, trained here on the public pydoc topics, or a "
        "tokenizer JSON file (leakjax.data.TextTokenizer.save)",
    )  # fmt: skip
    x.add_argument(
        "--batch-size", type=positive_int("--batch-size"), default=None,
        help="sequences per client update (default 1; recovered sequences are matched to the "
        "truth by the Hungarian method)",
    )  # fmt: skip
    t = p.add_argument_group("threat model and defense")
    t.add_argument(
        "--labels-known", action="store_true",
        help="the server knows the labels (otherwise they are inferred by --label-rule; DLG "
        "optimizes them)",
    )  # fmt: skip
    t.add_argument(
        "--label-rule", default=None, choices=sorted(LABEL_RULES), metavar="RULE",
        help=f"rule inferring labels from the update: {', '.join(sorted(LABEL_RULES))} "
        "(default: yin for gradinversion, idlg otherwise)",
    )  # fmt: skip
    t.add_argument(
        "--defense", default="none",
        help="the client's defense, e.g. prune=0.9 or clip=4,noise_std=0.01 (syntax below)",
    )  # fmt: skip
    t.add_argument(
        "--placement", default=None, choices=("step", "update"),
        help="with --local-epochs: apply the defense to every local step's gradient or once to "
        "the update (default: the defense's own)",
    )  # fmt: skip
    t.add_argument(
        "--local-epochs", type=positive_int("--local-epochs"), default=None,
        help="FedAvg client: this many local SGD steps on its image, sharing the weight delta "
        "(ig and gradinversion; needs --labels-known); default: one gradient (FedSGD)",
    )  # fmt: skip
    t.add_argument(
        "--local-lr", type=bounded_float("--local-lr", 0.0, 10.0, low_open=True), default=1e-4,
        help="FedAvg client learning rate, in (0, 10]",
    )  # fmt: skip
    t.add_argument(
        "--local-momentum", type=bounded_float("--local-momentum", 0.0, 1.0, high_open=True),
        default=0.0, help="FedAvg client SGD momentum, in [0, 1)",
    )  # fmt: skip
    a = p.add_argument_group("the attack's settings")
    a.add_argument(
        "--steps", type=positive_int("--steps"), default=None,
        help="attack steps (default: the attack's, listed below; ig --preset: the preset's)",
    )  # fmt: skip
    a.add_argument(
        "--restarts", type=positive_int("--restarts"), default=1,
        help="independent starts per run; the best by matching loss is kept (the fix for "
        "DLG/iDLG stalls)",
    )  # fmt: skip
    a.add_argument(
        "--seeds", type=positive_int("--seeds"), default=1,
        help="seeds per victim (the attack's start and the client's noise)",
    )  # fmt: skip
    a.add_argument(
        "--lbfgs-lr", type=bounded_float("--lbfgs-lr", 0.0, 100.0, low_open=True), default=None,
        help="dlg/idlg: L-BFGS learning rate, in (0, 100] (default 1, torch's)",
    )  # fmt: skip
    a.add_argument(
        "--tv", type=bounded_float("--tv", 0.0, 100.0), default=None,
        help="ig/gradinversion: total-variation weight, in [0, 100] (default: the attack's, "
        "1e-4)",
    )  # fmt: skip
    a.add_argument(
        "--preset", default=None, choices=("breaching", "inversefed", "plato"),
        help="ig: every setting at that reference's config (TV weight and form, signed, steps, "
        "label rule, best/last iterate); without it ig runs leakjax's defaults (TV 1e-4, "
        "1000 steps), which are no reference's setting",
    )  # fmt: skip
    a.add_argument(
        "--generator", default=None,
        help="ggl/gias: generator checkpoint (msgpack, from `leakjax train-generator`)",
    )  # fmt: skip
    a.add_argument(
        "--optimizer", default=None, choices=GGL_STRATEGIES, metavar="NAME",
        help=f"ggl: latent optimizer, one of {', '.join(GGL_STRATEGIES)} (default cma_es)",
    )  # fmt: skip
    a.add_argument(
        "--population-size", type=positive_int("--population-size"), default=None,
        help="ggl: candidates per generation (default 32)",
    )  # fmt: skip
    a.add_argument(
        "--adaptive", default=None, choices=SIMULATIONS, metavar="DEFENSE",
        help=f"ggl: simulate this defense in the attack, one of {', '.join(SIMULATIONS)}",
    )  # fmt: skip
    r = p.add_argument_group("running")
    r.add_argument(
        "--out", default="runs/attack",
        help=f"output folder: {STORE_NAME} (every run, resumable), results.json, grid.png",
    )  # fmt: skip
    r.add_argument(
        "--strategy", default="auto", choices=STRATEGIES,
        help="batching of runs: threads (one run per core; auto on CPU) or vmap (auto on "
        "GPU/TPU)",
    )  # fmt: skip
    r.add_argument(
        "--chunk", type=positive_int("--chunk"), default=256,
        help="at most this many runs per committed chunk (also bounded by memory)",
    )  # fmt: skip
    r.add_argument("--quiet", action="store_true", help="no progress bar, table or notes")


# --------------------------------------------------------------------------------------------
# checks (before anything is loaded or compiled)
# --------------------------------------------------------------------------------------------


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1 or shape[2] not in (1, 3):
        raise CLIError(f"--image-shape {text}: expected H,W,C with C 1 or 3, e.g. 32,32,3")
    return shape


def _tfds_prepared(name: str) -> tuple[bool, str]:
    """Whether ``name`` looks prepared in array_record format (a filesystem check; TFDS itself
    is not imported)."""
    root = os.environ.get("TFDS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), "tensorflow_datasets"
    )
    base = name if "/" in name else ("emnist/balanced" if name == "emnist" else name)
    folder = os.path.join(root, *base.split("/"))
    for dirpath, _, files in os.walk(folder):
        if any(".array_record" in f for f in files):
            return True, folder
        if dirpath.count(os.sep) - folder.count(os.sep) > 2:
            break
    return False, folder


def data_kind(args) -> str:
    """``"embedded"``, ``"tfds"`` or ``"files"`` for ``--data``, or a :class:`CLIError`."""
    from leakjax.data import EMBEDDED, TFDS_DATASETS
    from leakjax.sweep.text import TEXT_DATA

    first = args.data[0]
    if len(args.data) == 1 and first in EMBEDDED:
        return "embedded"
    if len(args.data) == 1 and first in TEXT_DATA:
        return "text"
    if len(args.data) == 1 and (first in TFDS_DATASETS or first.startswith("emnist/")):
        return "tfds"
    if len(args.data) == 1 and not os.path.splitext(first)[1] and not os.path.exists(first):
        raise CLIError(
            f"--data {first}: not an embedded dataset ({', '.join(EMBEDDED)}), not embedded text "
            f"({', '.join(TEXT_DATA)}), not a tfds "
            f"dataset ({', '.join(TFDS_DATASETS)}) and not an image file"
        )
    return "files"


def _check_data(args) -> None:
    from leakjax.data import EMBEDDED
    from leakjax.data.tfds_loaders import _prepare_command

    kind = data_kind(args)
    _check_text_flags(args, kind)
    if kind != "files":
        if args.labels is not None:
            raise CLIError(f"--labels {args.labels}: only for image files, not --data {args.data[0]}")
        if kind in ("embedded", "text") and args.split not in ("private", "public", "all"):
            raise CLIError(
                f"--split {args.split}: embedded datasets have private, public and all"
            )
        if kind == "tfds":
            ok, folder = _tfds_prepared(args.data[0])
            if not ok:
                name = "emnist/balanced" if args.data[0] == "emnist" else args.data[0]
                raise CLIError(
                    f"--data {args.data[0]}: a TensorFlow Datasets set that must be prepared once "
                    f"on a machine with network (no download at run time; looked in {folder}):\n"
                    f"  {_prepare_command(name, None)}\n"
                    f"or use an embedded dataset ({', '.join(EMBEDDED)}) or image files"
                )
        return
    if args.labels is None:
        raise CLIError("--labels is required with image files: one label per file, e.g. 3,7")
    for p in args.data:
        if not os.path.isfile(p):
            raise CLIError(f"--data {p}: no such file")
    labels = [v.strip() for v in args.labels.split(",")]
    try:
        values = [int(v) for v in labels]
    except ValueError:
        raise CLIError(f"--labels {args.labels}: expected comma-separated integers, e.g. 3,7") from None
    if len(values) != len(args.data) or min(values) < 0:
        raise CLIError(
            f"--labels {args.labels}: expected one integer label >= 0 per file "
            f"({len(args.data)} files)"
        )
    _parse_shape(args.image_shape)


TEXT_FLAGS = ("--seq-len", "--vocab-size", "--tokenizer", "--batch-size")
#: flags that have no meaning for text runs (the engine's text path observes one gradient)
IMAGE_ONLY_FLAGS = (
    "--preset", "--tv", "--lbfgs-lr", "--generator", "--optimizer", "--population-size",
    "--adaptive", "--local-epochs", "--placement", "--label-rule", "--width", "--labels",
)  # fmt: skip


def _flag_value(args, flag: str):
    return getattr(args, flag.lstrip("-").replace("-", "_"))


def _check_text_flags(args, kind: str) -> None:
    """Text data needs a text attack and model; text-only and image-only flags stay apart."""
    from leakjax.attacks import TEXT_ATTACKS
    from leakjax.models import TEXT_MODELS

    if kind != "text":
        for flag in TEXT_FLAGS:
            if _flag_value(args, flag) is not None:
                raise CLIError(
                    f"{flag} {_flag_value(args, flag)}: is for text data (--data text-random or "
                    f"text-pydoc), not --data {' '.join(args.data)}"
                )
        if args.attack in TEXT_ATTACKS:
            raise CLIError(
                f"--attack {args.attack}: a text attack; use --data text-random or text-pydoc "
                f"with --model {' / '.join(TEXT_MODELS)}"
            )
        if args.model in TEXT_MODELS:
            raise CLIError(
                f"--model {args.model}: a text model; use --data text-random or text-pydoc"
            )
        return
    name = args.data[0]
    if args.attack not in TEXT_ATTACKS:
        default = " (the default, for images)" if args.attack == "idlg" else ""
        raise CLIError(
            f"--attack {args.attack}{default}: an image attack; --data {name} needs a text "
            f"attack: --attack {' / '.join(TEXT_ATTACKS)}"
        )
    if args.model not in TEXT_MODELS:
        default = " (the default, for images)" if args.model == "lenet" else ""
        raise CLIError(
            f"--model {args.model}{default}: an image model; --data {name} needs a text model: "
            f"--model {' / '.join(TEXT_MODELS)}"
        )
    for flag in IMAGE_ONLY_FLAGS:
        if _flag_value(args, flag) is not None:
            raise CLIError(f"{flag} {_flag_value(args, flag)}: is for image data, not --data {name}")
    if args.tokenizer is not None and name != "text-pydoc":
        raise CLIError(f"--tokenizer {args.tokenizer}: only text-pydoc has a tokenizer")
    if args.tokenizer not in (None, "bpe", "word") and not os.path.isfile(args.tokenizer):
        raise CLIError(
            f"--tokenizer {args.tokenizer}: no such file; expected bpe, word or a tokenizer JSON "
            "file written by leakjax.data.TextTokenizer.save"
        )
    if args.labels_known and args.attack == "token_set":
        raise CLIError("--labels-known with --attack token_set: token-set recovery takes no labels")


def _check_combinations(args) -> None:
    if data_kind(args) == "text":
        return  # checked by _check_text_flags; the engine validates the rest before compiling
    a, m = args.attack, args.model
    if args.preset is not None and a != "ig":
        raise CLIError(f"--preset {args.preset}: is for --attack ig, not --attack {a}")
    if args.preset == "plato" and not args.labels_known:
        raise CLIError("--preset plato: plato's csDLG uses the true labels; add --labels-known")
    if a == "dlg" and args.labels_known:
        raise CLIError(
            "--labels-known with --attack dlg: DLG optimizes the labels; use --attack idlg, "
            "which uses known labels"
        )
    if a == "gradinversion" and m not in BN_MODELS:
        raise CLIError(
            f"--attack gradinversion with --model {m}: GradInversion's BatchNorm-statistics "
            f"prior (on by default) needs a model with BatchNorm layers, and {m} has none; use "
            f"--model {' / '.join(BN_MODELS)}"
        )
    if a == "analytic_fc" and m not in FC_FIRST_MODELS:
        raise CLIError(
            f"--attack analytic_fc with --model {m}: the analytic inversion needs a fully "
            f"connected first layer with a bias; use --model {' / '.join(FC_FIRST_MODELS)}"
        )
    if args.local_epochs is not None:
        if a not in DELTA_ATTACKS:
            raise CLIError(
                f"--local-epochs {args.local_epochs} with --attack {a}: only "
                f"{' and '.join(DELTA_ATTACKS)} attack a multi-step weight update; drop "
                "--local-epochs or use --attack ig"
            )
        if not args.labels_known:
            raise CLIError(
                f"--local-epochs {args.local_epochs}: the multi-step attack needs the labels; "
                "add --labels-known"
            )
    elif args.placement is not None:
        raise CLIError(
            f"--placement {args.placement}: only for a multi-step client (--local-epochs); with "
            "one gradient both placements are the same"
        )
    for flag, value, ok in (
        ("--tv", args.tv, DELTA_ATTACKS),
        ("--lbfgs-lr", args.lbfgs_lr, ("dlg", "idlg")),
        ("--generator", args.generator, GENERATIVE),
        ("--optimizer", args.optimizer, ("ggl",)),
        ("--population-size", args.population_size, ("ggl",)),
        ("--adaptive", args.adaptive, ("ggl",)),
    ):
        if value is not None and a not in ok:
            raise CLIError(f"{flag} {value}: is for --attack {' / '.join(ok)}, not --attack {a}")
    if a in GENERATIVE and not args.generator:
        raise CLIError(
            f"--attack {a} needs --generator PATH (a checkpoint from `leakjax train-generator`)"
        )
    if a == "ggl" and args.optimizer == "open_es" and (args.population_size or 32) % 2:
        raise CLIError(
            f"--optimizer open_es needs an even --population-size, not {args.population_size}"
        )


def _check_defense(args) -> None:
    from leakjax.defenses import parse_defense

    try:
        parse_defense(args.defense, 0)
    except (ValueError, TypeError) as e:
        msg = str(e).replace("parse_defense: ", "")
        raise CLIError(f"--defense {args.defense}: {msg}") from None


def check_attack_args(args) -> None:
    """Every check that needs no data, model or compilation; raises :class:`CLIError`."""
    check_out_dir(args.out)
    _check_data(args)
    _check_combinations(args)
    _check_defense(args)


# --------------------------------------------------------------------------------------------
# flags -> sweep
# --------------------------------------------------------------------------------------------


def default_steps(args) -> int:
    """``--steps``, else the ig preset's ``max_steps``, else the attack's default."""
    from leakjax.sweep.build import ATTACK_DEFAULT_STEPS

    if args.steps:
        return args.steps
    if args.preset is not None and args.attack == "ig":
        from leakjax.attacks.inverting_gradients import IG_PRESETS

        return int(IG_PRESETS[args.preset]["max_steps"])
    return ATTACK_DEFAULT_STEPS.get(args.attack, 300)


def model_kwargs(args) -> dict:
    kw = {}
    if args.num_classes is not None:
        kw["num_classes"] = args.num_classes
    if args.width is not None:
        if args.model == "mlp":
            kw["hidden"] = [args.width]
        else:
            kw["width"] = args.width
    return kw


def attack_hp(args) -> dict:
    hp: dict = {}
    if args.tv is not None:
        hp["tv_weight"] = float(args.tv)
    if args.preset is not None:
        hp["preset"] = args.preset
    if args.lbfgs_lr is not None:
        hp["lbfgs_lr"] = float(args.lbfgs_lr)
    if args.attack in GENERATIVE:
        hp["generator"] = os.path.abspath(args.generator)
    if args.attack == "ggl":
        hp["strategy"] = args.optimizer or "cma_es"
        hp["population_size"] = int(args.population_size or 32)
        if args.adaptive is not None:
            hp["defense_simulation"] = args.adaptive
    return hp


def _data(args):
    from leakjax.sweep import Data

    kind = data_kind(args)
    if kind == "files":
        labels = tuple(int(v) for v in args.labels.split(","))
        return Data(
            "files",
            split="files",
            victims=min(args.num_images, len(args.data)),
            image_shape=_parse_shape(args.image_shape),
            num_classes=args.num_classes,
            paths=tuple(os.path.abspath(p) for p in args.data),
            labels=labels,
        )
    if kind == "text":
        return Data(
            args.data[0],
            split=args.split,
            victims=args.num_images,
            batch_size=args.batch_size or 1,
            seq_len=args.seq_len,
            vocab_size=args.vocab_size,
            tokenizer=args.tokenizer,
        )
    return Data(args.data[0], split=args.split, victims=args.num_images)


def _threat(args):
    from leakjax.fl import LocalRecipe
    from leakjax.sweep import Threat

    if data_kind(args) == "text":
        return Threat(labels="given" if args.labels_known else None)
    rule = args.label_rule or ("yin" if args.attack == "gradinversion" else "idlg")
    recipe = None
    if args.local_epochs is not None:
        recipe = LocalRecipe(
            epochs=args.local_epochs, batch_size=1, lr=args.local_lr, momentum=args.local_momentum
        )
    return Threat(labels="given" if args.labels_known else None, label_rule=rule, recipe=recipe)


def build_attack_sweep(args, name: str = "attack"):
    """The single-cell :class:`~leakjax.sweep.Sweep` of ``leakjax attack``'s flags."""
    from leakjax.sweep import Attack, Defense, Model, Sweep, axis, product, seeds

    return Sweep(
        name,
        runs=product(
            axis(
                "attack",
                [Attack(args.attack, default_steps(args), args.restarts, **attack_hp(args))],
            ),
            axis("model", [Model(args.model, seed=args.model_seed, **model_kwargs(args))]),
            axis("data", [_data(args)]),
            axis("threat", [_threat(args)]),
            axis("defense", [Defense(args.defense or "none", args.placement)]),
            seeds(args.seeds),
        ),
    )


def _check_victims(args, sweep) -> None:
    """Checks that need the dataset (loaded here, before compiling): enough images, label range,
    and a generator that fits the data."""
    from leakjax import data

    d = sweep.cells()[0]["data"]
    if data_kind(args) == "text":
        return  # the engine validates text data (context, vocabulary, tokenizer) before compiling
    if d.name == "files":
        shape, labels, classes = d.image_shape, list(d.labels), args.num_classes
    else:
        try:  # a tfds split is read only as far as the victims go
            n = None if d.name in data.EMBEDDED else d.victims
            ds = data.load(d.name, split=d.split, num_images=n)
        except (ValueError, FileNotFoundError) as e:
            raise CLIError(f"--data {d.name} --split {d.split}: {e}") from None
        if len(ds) < d.victims:
            raise CLIError(
                f"--num-images {d.victims}: --data {d.name} --split {d.split} has only "
                f"{len(ds)} images"
            )
        shape, labels = ds.images.shape[1:], [int(v) for v in ds.labels[: d.victims]]
        classes = args.num_classes or ds.spec.num_classes
    if classes is not None and max(labels) >= classes:
        raise CLIError(
            f"--num-classes {classes}: the victims have label {max(labels)}; expected more "
            "classes than the largest label"
        )
    if args.attack in GENERATIVE:
        from leakjax.generative import load_generator

        try:
            gen = load_generator(args.generator)
        except (ValueError, FileNotFoundError, OSError) as e:
            raise CLIError(f"--generator {args.generator}: {e}") from None
        if tuple(gen.image_shape) != tuple(shape):
            raise CLIError(
                f"--generator {args.generator}: generates images of shape "
                f"{tuple(gen.image_shape)} but --data gives {tuple(shape)}; train a generator "
                "on data of that shape"
            )
        want = classes or (max(labels) + 1)
        if gen.conditional and gen.num_classes != want:
            raise CLIError(
                f"--generator {args.generator}: conditional on {gen.num_classes} classes but the "
                f"model has {want}; pass --num-classes {gen.num_classes} or use another generator"
            )


# --------------------------------------------------------------------------------------------
# running into the store, and reading it back
# --------------------------------------------------------------------------------------------


def run_into_store(sweep, store: str, *, strategy="auto", max_chunk=256, quiet=False,
                   rerun_failed=False, source=None, on_group_error="raise") -> list[str]:  # fmt: skip
    """Run ``sweep`` into ``store``; return its run ids (in declaration order).

    Raises :class:`Interrupted` on Ctrl-C (with the number of this sweep's runs in the store) and
    :class:`CLIError` for a declaration or store that cannot work.
    """
    from leakjax.sweep import SweepError, SweepInterrupted, make_plan, run_sweep
    from leakjax.sweep.store import StoreError

    try:
        plan = make_plan(sweep, {})
    except (SweepError, ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    ids = [r.run_id for r in plan.runs] + [u.run_id for u in plan.utility]
    try:
        result = run_sweep(
            sweep,
            store,
            strategy=strategy,
            max_chunk=max_chunk,
            progress=not quiet,
            rerun_failed=rerun_failed,
            source=source,
            on_group_error=on_group_error,
        )
    except SweepInterrupted:
        raise Interrupted(_kept(store, ids), len(ids), store) from None
    except StoreError as e:
        raise CLIError(str(e)) from None
    if not quiet and result.already_done == result.total and result.total:
        print(f"all {result.total} runs were already in {store}; nothing to run", file=sys.stderr)
    elif not quiet and result.already_done:
        print(
            f"resumed: {result.already_done} of {result.total} runs were already in {store}",
            file=sys.stderr,
        )
    return ids


def _kept(store: str, ids) -> int:
    from leakjax.sweep import Store

    try:
        with Store(store, readonly=True) as s:
            st = s.statuses(ids)
    except Exception:  # noqa: BLE001 - only used to phrase the message
        return 0
    return sum(v in ("converged", "max_steps", "diverged") for v in st.values())


def read_runs(store: str, ids, blobs: bool = True) -> list[dict]:
    """The store's rows of ``ids`` (in that order), ``metrics``/``config``/``victims`` parsed,
    with their ``reconstruction`` and ``truth`` blobs (``None`` when ``blobs`` is false)."""
    from leakjax.sweep import Store

    order = {rid: i for i, rid in enumerate(ids)}
    with Store(store, readonly=True) as s:
        rows = []
        for i in range(0, len(ids), 900):
            part = list(ids)[i : i + 900]
            rows += s.rows(where=f"run_id IN ({','.join('?' * len(part))})", params=part)
        for r in rows:
            for k in ("metrics", "config", "victims"):
                r[k] = json.loads(r[k]) if r.get(k) else {}
            r["reconstruction"] = s.blob(r["run_id"], "reconstruction") if blobs else None
            r["truth"] = s.blob(r["run_id"], "truth") if blobs else None
    return sorted(rows, key=lambda r: order[r["run_id"]])


def record(row: dict) -> dict:
    """One results.json record of a store row."""
    m, c, v = row["metrics"], row["config"], row["victims"] or {}
    pred, true = m.get("labels_pred") or [None], m.get("labels_true") or [None]
    recipe = (c.get("threat") or {}).get("recipe")
    return dict(
        run_id=row["run_id"],
        attack=row["attack"],
        model=row["model"],
        data=row["data"],
        split=(c.get("data") or {}).get("split"),
        image=(v.get("indices") or [None])[0],
        source=(v.get("sources") or [None])[0],
        victim=row["victim"],
        seed=row["seed"],
        defense=row["defense"],
        steps=m.get("steps"),
        restarts=m.get("restarts"),
        status=row["status"],
        psnr=row["psnr"],
        ssim=row["ssim"],
        mse=row["mse"],
        lpips=row["lpips"],
        psnr_norm=row["psnr_norm"],
        label=pred[0],
        true_label=true[0],
        label_correct=None if pred[0] is None else bool(pred[0] == true[0]),
        label_acc=row["label_acc"],
        matching_loss=row["loss"],
        seconds=row["seconds"],
        upload_bits=row["upload_bits"],
        epsilon=row["epsilon"],
        local_epochs=None if not recipe else recipe["epochs"],
        error=m.get("error"),
    )


def write_outputs(out_dir: str, rows: list[dict], title: str, *, show_labels=False) -> None:
    """``results.json`` (every run) and ``grid.png`` (the lowest seed's runs, one row per
    attack, captioned with PSNR and the whole status word) from store rows."""
    import numpy as np

    from leakjax.report import save_grid

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump([record(r) for r in rows], f, indent=1)
    shown = [r for r in rows if r["truth"] is not None]
    if not shown:
        return
    seed = min(r["seed"] for r in shown)
    victims = sorted({r["victim"] for r in shown if r["seed"] == seed})
    truth = {r["victim"]: r["truth"][0] for r in shown if r["seed"] == seed}
    blank = np.zeros_like(next(iter(truth.values())), dtype=np.float32)
    grid_rows, captions = {}, {}
    for attack in dict.fromkeys(r["attack"] for r in rows):
        mine = {r["victim"]: r for r in rows if r["attack"] == attack and r["seed"] == seed}
        imgs, caps = [], []
        for v in victims:
            r = mine.get(v)
            rec = None if r is None else r["reconstruction"]
            imgs.append(blank if rec is None else rec[0].astype(np.float32))
            if r is None:
                caps.append("missing")
                continue
            psnr = "-" if r["psnr"] is None else f"{r['psnr']:.1f} dB"
            label = f"y={r['metrics'].get('labels_pred', ['?'])[0]} " if show_labels else ""
            caps.append(f"{label}{psnr}\n{r['status']}")
        grid_rows[attack] = np.stack(imgs)
        captions[attack] = caps
    truth_imgs = np.stack([truth[v].astype(np.float32) for v in victims])
    save_grid(
        os.path.join(out_dir, "grid.png"), truth_imgs, grid_rows, captions=captions, title=title
    )


def text_record(row: dict) -> dict:
    """One results.json record of a text run: the text metrics and both texts."""
    m = row["metrics"]
    keep = ("run_id", "attack", "model", "data", "victim", "seed", "defense", "status",
            "label_acc", "upload_bits", "epsilon", "seconds")  # fmt: skip
    return dict(
        **{k: row.get(k) for k in keep},
        split=(row["config"].get("data") or {}).get("split"),
        steps=m.get("steps"),
        restarts=m.get("restarts"),
        matching_loss=row.get("loss"),
        **{k: v for k, v in (m.get("text") or {}).items()},
        headline=m.get("text_headline"),
        error=m.get("error"),
    )


def write_text_outputs(out_dir: str, rows: list[dict]) -> None:
    """``results.json`` (every run) and ``texts.md`` (each run's truth above what was recovered)."""
    from leakjax.cli.table import text_pairs

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump([text_record(r) for r in rows], f, indent=1)
    with open(os.path.join(out_dir, "texts.md"), "w") as f:
        f.write(text_pairs(rows, markdown=True) + "\n")


def grid_title(args, steps: int) -> str:
    defense = args.defense if args.defense and args.defense != "none" else "no defense"
    data = args.data[0] if data_kind(args) != "files" else f"{len(args.data)} image files"
    return f"{args.attack} on {data} ({args.model}), defense: {defense}, {steps} steps, seed 0"


def report_outputs(out_dir: str, rows: list[dict], quiet: bool) -> None:
    from leakjax.cli.table import summary_table

    if quiet:
        return
    print(summary_table(rows))
    print(
        f"wrote {os.path.join(out_dir, 'results.json')} and {os.path.join(out_dir, 'grid.png')} "
        f"(every run in {os.path.join(out_dir, STORE_NAME)})"
    )


# --------------------------------------------------------------------------------------------
# the commands
# --------------------------------------------------------------------------------------------


def cmd_attack(args) -> int:
    check_attack_args(args)
    sweep = build_attack_sweep(args)
    _check_victims(args, sweep)
    store = os.path.join(args.out, STORE_NAME)
    try:
        ids = run_into_store(
            sweep, store, strategy=args.strategy, max_chunk=args.chunk, quiet=args.quiet
        )
    except ValueError as e:  # the attack's program cannot be built for this model and data
        raise CLIError(f"--attack {args.attack} with --model {args.model}: {e}") from None
    if data_kind(args) == "text":
        rows = read_runs(store, ids, blobs=False)
        write_text_outputs(args.out, rows)
        if not args.quiet:
            from leakjax.cli.table import text_summary

            print(text_summary(rows))
            print(
                f"wrote {os.path.join(args.out, 'results.json')} and "
                f"{os.path.join(args.out, 'texts.md')} (every run in "
                f"{os.path.join(args.out, STORE_NAME)})"
            )
        return 0
    rows = read_runs(store, ids)
    write_outputs(args.out, rows, grid_title(args, default_steps(args)))
    report_outputs(args.out, rows, args.quiet)
    return 0


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder (store, results.json, grid)")
    p.add_argument(
        "--num-images", type=positive_int("--num-images"), default=4,
        help="victims: the first photos of the private split (different photographs)",
    )  # fmt: skip
    p.add_argument(
        "--steps", type=positive_int("--steps"), default=300, help="L-BFGS steps (DLG's protocol)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, table or notes")


def demo_sweep(num_images: int, steps: int):
    """iDLG and DLG on embedded photos: DLG's CIFAR-100 setting (sigmoid LeNet, 100 classes,
    raw [0, 1] pixels, B = 1, torch-style L-BFGS, one start)."""
    from leakjax.sweep import Attack, Data, Model, Sweep, axis, product

    return Sweep(
        "demo",
        runs=product(
            axis("attack", [Attack("idlg", steps), Attack("dlg", steps)]),
            axis("model", [Model("lenet", num_classes=100)]),
            axis("data", [Data("photos", split="private", victims=num_images)]),
        ),
    )


def cmd_demo(args) -> int:
    check_out_dir(args.out)
    sweep = demo_sweep(args.num_images, args.steps)
    store = os.path.join(args.out, STORE_NAME)
    ids = run_into_store(sweep, store, quiet=args.quiet)
    rows = read_runs(store, ids)
    title = f"iDLG and DLG, sigmoid LeNet (100 classes), no defense, {args.steps} L-BFGS steps"
    write_outputs(args.out, rows, title, show_labels=True)
    report_outputs(args.out, rows, args.quiet)
    return 0


def attack_help_epilog() -> str:
    return catalog.attack_help_epilog()
