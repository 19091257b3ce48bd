"""The names ``leakjax attack`` accepts, with one line each, for ``--help`` and error messages.

The lists come from the registries (:data:`leakjax.attacks.ATTACKS` and ``TEXT_ATTACKS``,
:data:`leakjax.models.MODELS` and ``TEXT_MODELS``, :data:`leakjax.data.EMBEDDED`,
:data:`leakjax.sweep.text.TEXT_DATA`, :data:`leakjax.defenses.spec.SYNTAX`);
the one-line descriptions live here, and ``tests/test_cli.py`` fails when a registry gains a
name without one.
"""

from __future__ import annotations

import textwrap

ATTACKS = {
    "dlg": "DLG (Zhu et al. 2019): image and soft label jointly, torch-style L-BFGS, raw [0, 1] "
    "pixels",
    "idlg": "iDLG (Zhao et al. 2020): label read analytically from the update, then the image "
    "(L-BFGS)",
    "ig": "Inverting Gradients (Geiping et al. 2020): cosine matching + TV, signed Adam; "
    "--preset for a reference's config; the only attack of a FedAvg update (--local-epochs)",
    "gradinversion": "GradInversion (Yin et al. 2021): IG + BatchNorm-statistics, group and L2 "
    "priors; needs a model with BatchNorm (convnet, resnet18, resnet20)",
    "analytic_fc": "analytic inversion of a first fully connected layer (Phong et al. 2018); "
    "needs --model mlp",
    "ggl": "GGL (Li et al. 2022): search a generator's latent space (--generator, --optimizer)",
    "gias": "GIAS (Jeon et al. 2021): latent search, then the generator's weights (--generator)",
}

MODELS = {
    "lenet": "DLG's sigmoid LeNet, U(-0.5, 0.5) init (--width: channels, default 12)",
    "mlp": "MLP, one sigmoid hidden layer of 128 (--width: hidden units)",
    "convnet": "Geiping's ConvNet with BatchNorm, PyTorch init (--width: base channels, default "
    "64; the references' size, slow on CPU: try --width 16)",
    "resnet18": "ResNet-18, CIFAR variant, BatchNorm (--width: multiplier, default 1)",
    "resnet20": "CIFAR ResNet-20, BatchNorm (--width: multiplier, default 1)",
}

DATASETS = {
    "digits": "scikit-learn's 8x8 digits upsampled to 28x28x1, 10 classes",
    "photos": "32x32 RGB crops of 11 photographs (label = source photo); victims span the "
    "photographs",
    "faces": "scikit-image's LFW subset, 100 faces at 32x32 (label = face)",
}

TEXT_ATTACKS = {
    "tag": "TAG (Deng et al. 2021): L2 + 0.1 x linear-weighted L1 gradient distance over input embeddings and soft "
    "labels, AdamW, breaching's settings; decoded to the nearest tokens",
    "text_dlg": "DLG on text: L2 gradient matching over input embeddings (torch-style L-BFGS), "
    "decoded to the nearest tokens",
    "token_set": "token-set recovery: the embedding rows with a non-zero gradient are the tokens "
    "present (exact, untrained model, no defense)",
}

TEXT_MODELS = {
    "transformer3": "breaching's TAG model: an untrained 3-layer causal transformer LM",
    "transformer_lm": "a causal transformer LM of 1-3 layers (the library's defaults)",
    "transformer_classifier": "a transformer sequence classifier (synthetic labels i % C)",
}

TEXT_DATASETS = {
    "text-random": "random token ids over --vocab-size (breaching's random-tokens case)",
    "text-pydoc": "CPython's pydoc topics (public/private split), --tokenizer bpe|word|FILE "
    "trained here on the public topics",
}

DEFENSES = {
    "noise_std": "Gaussian noise; STD is a standard deviation, in gradient units",
    "noise_var": "Gaussian noise given by its variance (DLG's axis); std = sqrt(VARIANCE)",
    "laplace": "Laplace noise; SCALE is the Laplace scale b (variance 2 b^2)",
    "laplace_var": "Laplace noise given by its variance",
    "clip": "clip the update's global L2 norm to MAX_NORM",
    "prune": "zero the FRACTION of smallest-magnitude entries per tensor",
    "topk": "send the largest FRACTION of entries per tensor (error feedback)",
    "dgp": "dual gradient pruning: TOP and BOTTOM fractions of entries (default 0.05:0.8)",
    "quant": "quantize the update to a wire format",
    "outpost": "Outpost: Fisher-weighted noise and pruning, applied with probability 1/(1 + BETA t) "
    "at local step t (BETA: default 0.125)",
    "graddefense": "GradDefense: noise of std STD on PERTURBED of SLICES slices (0.01:5:10)",
    "graddefense_comp": "GradDefense with the server's compensation (Q: default 6)",
    "soteria": "Soteria: prune PERCENT of the representation layer's features",
    "dpsgd": "DP-SGD: per-example clip CLIP (L2), Gaussian noise NOISE_MULTIPLIER x CLIP",
    "mixup": "MixUp of K images of the batch (ALPHA: Dirichlet concentration, default 1)",
    "instahide": "InstaHide: MixUp of K images, then a random sign per pixel",
}


WRAP = 96


def _rows(entries: dict, width: int, prefix: str = "") -> list[str]:
    """``name  text`` lines, the text wrapped under itself."""
    out = []
    for name, text in entries.items():
        head = f"  {name:<{width}} {prefix}"
        out += textwrap.wrap(
            text, WRAP, initial_indent=head, subsequent_indent=" " * len(head)
        ) or [head]
    return out


def attack_help_epilog() -> str:
    """The catalog printed below ``leakjax attack --help``."""
    from leakjax.attacks import ATTACKS as attack_registry
    from leakjax.data import EMBEDDED, TFDS_DATASETS
    from leakjax.defenses.spec import SYNTAX
    from leakjax.models import MODELS as model_registry
    from leakjax.sweep.build import ATTACK_DEFAULT_STEPS

    lines = ["attacks (--attack NAME; default --steps in brackets):"]
    for name in attack_registry:
        steps = ATTACK_DEFAULT_STEPS.get(name, 300)
        lines += _rows({name: ATTACKS.get(name, "")}, 14, f"[{steps:>4}] ")
    lines += ["", "models (--model NAME; input shape and classes follow --data):"]
    lines += _rows({n: MODELS.get(n, "") for n in model_registry}, 14)
    lines += ["", "embedded datasets (--data NAME, no download; --split private|public|all):"]
    lines += _rows({n: DATASETS.get(n, "") for n in EMBEDDED}, 14)
    lines += ["", "text (--data text-random|text-pydoc --model NAME --attack NAME; B = --batch-size):"]
    for name, text in TEXT_ATTACKS.items():
        lines += _rows({name: text}, 14, f"[{ATTACK_DEFAULT_STEPS.get(name, 300):>4}] ")
    lines += _rows(TEXT_MODELS, 22)
    lines += _rows(TEXT_DATASETS, 14)
    lines += [
        "",
        f"  {'tfds':<14} {', '.join(TFDS_DATASETS)}: must be prepared once on a networked",
        f"  {'':<14} machine (see README, Data); image files: --data a.png b.jpg --labels 3,7",
        "",
        "defenses (--defense SPEC: comma-separated items applied left to right, e.g.",
        "  'clip=4,noise_std=0.01'; at most one per-example (tier-2) item, and it comes first):",
    ]
    for key, syntax in SYNTAX.items():
        lines.append(f"  {syntax}")
        lines += textwrap.wrap(DEFENSES.get(key, ""), WRAP, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)  # fmt: skip
    lines += [
        "",
        "statuses: converged (loss below the attack's tolerance), max_steps (ran every step),",
        "  diverged (non-finite loss or image; kept out of medians), failed (the run raised).",
    ]
    return "\n".join(lines)
