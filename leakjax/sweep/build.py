"""From a run configuration to objects: validation, the model, the victims and the program.

:func:`validate_cell` checks one cell of a sweep before anything compiles and raises a
:class:`SweepError` naming the axis, the value and what was expected. :func:`build_group` builds
what a compiled group shares (model, victims, the run program). The program is one pure function
``program(key, x01, y, attack_numbers, defense_numbers) -> outputs`` of one run: the simulated
client observes the victim's batch (:func:`leakjax.fl.observe` or
:func:`~leakjax.fl.observe_update`, the defense built from its traced numbers), the attack is
built from its traced hyperparameters and run (:func:`leakjax.attacks.run`), and the upload
bits are counted. The engine batches it over runs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.fl.local import LocalRecipe
from leakjax.sweep.identity import is_numeric_hp

ATTACK_DEFAULT_STEPS = {
    "dlg": 300,
    "idlg": 300,
    "ig": 1000,
    "gradinversion": 2000,
    "ggl": 100,
    "gias": 200,
    "analytic_fc": 1,
    "tag": 1000,  # text attacks (leakjax.sweep.text)
    "text_dlg": 300,
    "token_set": 1,
}
RAW_PIXEL_ATTACKS = ("dlg", "idlg")  # the references feed raw [0, 1] pixels (no normalization)
DELTA_ATTACKS = ("ig", "gradinversion")  # attacks that explain a multi-step weight update
LABEL_MODES_BY_ATTACK = {
    "dlg": ("optimize",),
    "idlg": ("infer", "given"),
    "ig": ("infer", "given"),
    "gradinversion": ("infer", "given"),
    "ggl": ("infer", "given"),
    "gias": ("infer", "given"),
    "analytic_fc": ("infer", "given"),
}
SPECIAL_HP = ("lbfgs_lr", "generator")
MODEL_STATES = ("untrained", "pretrained", "fedavg")
PRETRAIN_KEYS = ("lr", "batch_size", "momentum")  # the training keys "pretrained" reads
FEDAVG_TRAINING = {
    "clients": 10,
    "dirichlet_alpha": 0.5,
    "samples_per_round": 16,
    "defense": "none",
    "epochs": 1,
    "batch_size": 16,
    "lr": 0.1,
    "momentum": 0.0,
    "weight_decay": 0.0,
    "schedule": "constant",
}


class SweepError(ValueError):
    """A sweep declaration that cannot run, found before anything compiles."""


def _fail(sweep: str, field: str, value, reason: str):
    raise SweepError(f"sweep {sweep!r}: {field}={value!r}: {reason}")


def attack_steps(config: dict) -> int:
    a = config["attack"]
    return int(a["steps"] or ATTACK_DEFAULT_STEPS.get(a["name"], 300))


def effective_labels(config: dict) -> str:
    name = config["attack"]["name"]
    mode = config["threat"]["labels"]
    return mode or LABEL_MODES_BY_ATTACK.get(name, ("infer",))[0]


# --------------------------------------------------------------------------------------------
# validation (no compilation)
# --------------------------------------------------------------------------------------------


def validate_cell(sweep: str, cell: dict) -> None:
    """Raise :class:`SweepError` for a cell that cannot run (names, values, combinations)."""
    from leakjax import attacks, data, defenses, models
    from leakjax.sweep.spec import Attack, Data, Defense, Model, Threat

    a, m, d, t, f = (cell[k] for k in ("attack", "model", "data", "threat", "defense"))
    for field, v, cls in (
        ("attack", a, Attack),
        ("model", m, Model),
        ("data", d, Data),
        ("threat", t, Threat),
        ("defense", f, Defense),
    ):
        if not isinstance(v, cls):
            _fail(sweep, field, v, f"expected a leakjax.sweep.{cls.__name__}")
    seed = cell["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        _fail(sweep, "seed", seed, "expected an integer >= 0")
    from leakjax.sweep import text as text_runs

    if text_runs.is_text_cell(cell):  # text data / model / attack: leakjax.sweep.text
        return text_runs.validate_text_cell(sweep, cell)
    if a.name not in attacks.ATTACKS:
        _fail(sweep, "attack", a.name, f"unknown attack; expected one of {sorted(attacks.ATTACKS)}")
    for nm, v in (("steps", a.steps), ("restarts", a.restarts)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            _fail(sweep, f"attack.{nm}", v, "expected a positive integer")
    factory = attacks.ATTACKS[a.name]
    params = inspect.signature(factory).parameters
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
    for k, v in a.hp.items():
        if k in SPECIAL_HP:
            continue
        if k in ("spec", "model", "max_steps", "labels", "label_rule", "recipe", "threat_model"):
            _fail(sweep, f"attack.{k}", v, "is set by the sweep (steps, threat, data); drop it")
        if k not in params and not takes_kwargs:
            _fail(
                sweep,
                f"attack {a.name!r} hyperparameter {k}",
                v,
                f"unknown; {a.name} accepts {sorted(p for p in params if p not in ('model', 'spec'))}",
            )
        if isinstance(v, float) and not np.isfinite(v):
            _fail(sweep, f"attack.{k}", v, "expected a finite number")
    if "lbfgs_lr" in a.hp and a.name not in ("dlg", "idlg"):
        _fail(sweep, "attack.lbfgs_lr", a.hp["lbfgs_lr"], "only DLG and iDLG use torch L-BFGS")
    if a.name in ("ggl", "gias") and not a.hp.get("generator"):
        _fail(sweep, f"attack {a.name!r}", a.hp, "needs generator='path/to/checkpoint.msgpack'")
    if m.name not in models.MODELS:
        _fail(sweep, "model", m.name, f"unknown model; expected one of {sorted(models.MODELS)}")
    if m.state not in MODEL_STATES:
        _fail(sweep, "model.state", m.state, f"expected one of {MODEL_STATES}")
    if m.init is not None and (
        "init" not in inspect.signature(models.MODELS[m.name]).parameters and m.init != "torch"
    ):
        _fail(sweep, "model.init", m.init, f"{m.name!r} takes init=None or 'torch' (a redraw)")
    if m.state != "untrained" and (
        isinstance(m.train_steps, bool) or not isinstance(m.train_steps, int) or m.train_steps < 0
    ):
        _fail(sweep, "model.train_steps", m.train_steps, "expected an integer >= 0")
    unknown = set(m.training) - set(FEDAVG_TRAINING)
    if unknown:
        _fail(sweep, "model.training", sorted(unknown), f"unknown keys; expected {FEDAVG_TRAINING}")
    if m.training.get("defense"):
        try:
            defenses.parse_defense(m.training["defense"], 0)
        except (ValueError, TypeError) as e:
            _fail(sweep, "model.training.defense", m.training["defense"], str(e))
    names = (*data.EMBEDDED, "random", "files")
    if d.name not in names and not d.name.startswith(("emnist", "cifar", "mnist", "svhn")):
        _fail(sweep, "data", d.name, f"unknown dataset; expected one of {names} or a tfds name")
    for nm in ("victims", "batch_size"):
        v = getattr(d, nm)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            _fail(sweep, f"data.{nm}", v, "expected a positive integer")
    if d.name == "files":
        import os

        if not d.paths or len(d.paths) != len(d.labels):
            _fail(
                sweep,
                "data.labels",
                d.labels,
                f"expected one label per file ({len(d.paths)} files)",
            )
        for p in d.paths:
            if not os.path.isfile(p):
                _fail(sweep, "data.paths", p, "no such file")
        if d.image_shape is None:
            _fail(sweep, "data.image_shape", None, "files need the (H, W, C) to resize them to")
        if d.victims * d.batch_size > len(d.paths):
            _fail(
                sweep,
                "data.victims",
                d.victims,
                f"{len(d.paths)} files hold at most {len(d.paths) // d.batch_size} victims",
            )
    if d.normalize not in ("auto", "raw", "dataset"):
        _fail(sweep, "data.normalize", d.normalize, "expected 'auto', 'raw' or 'dataset'")
    modes = LABEL_MODES_BY_ATTACK.get(a.name, ("infer", "given", "optimize"))
    if t.labels is not None and t.labels not in modes:
        _fail(
            sweep,
            "threat.labels",
            t.labels,
            f"attack {a.name!r} supports labels in {modes}"
            + (" (DLG optimizes the labels; use idlg for known labels)" if a.name == "dlg" else ""),
        )
    if t.label_rule not in attacks.LABEL_RULES:
        _fail(sweep, "threat.label_rule", t.label_rule, f"expected one of {attacks.LABEL_RULES}")
    for nm in ("recipe", "assumed_recipe"):
        r = getattr(t, nm)
        if r is not None and not isinstance(r, LocalRecipe):
            _fail(sweep, f"threat.{nm}", r, "expected a leakjax.fl.LocalRecipe or None")
    if t.recipe is not None and a.name not in DELTA_ATTACKS:
        _fail(
            sweep,
            "threat.recipe",
            t.recipe,
            f"attack {a.name!r} explains one gradient; multi-step updates need one of "
            f"{DELTA_ATTACKS}",
        )
    labels = t.labels or LABEL_MODES_BY_ATTACK.get(a.name, ("infer",))[0]
    if t.recipe is not None and labels != "given":
        _fail(sweep, "threat.labels", t.labels, "the multi-step attack needs labels='given'")
    if t.assumed_recipe is not None and t.recipe is None:
        _fail(
            sweep, "threat.assumed_recipe", t.assumed_recipe, "needs threat.recipe (the client's)"
        )
    try:
        parsed, _ = defenses.parse_defense(f.spec, 0)
    except (ValueError, TypeError) as e:
        _fail(sweep, "defense", f.spec, str(e))
    if f.placement is not None:
        if f.placement not in ("step", "update"):
            _fail(sweep, "defense.placement", f.placement, "expected 'step', 'update' or None")
        if t.recipe is None:
            _fail(
                sweep,
                "defense.placement",
                f.placement,
                "only applies to a multi-step client (threat.recipe); with one gradient both "
                "placements are the same",
            )
        from leakjax.fl.defended import split_defense

        if split_defense(parsed)[1] is None:
            _fail(
                sweep, "defense.placement", f.placement, f"{f.spec!r} has no tier-1 part to place"
            )
    if t.recipe is not None and parsed is not None:
        from leakjax.fl.defended import split_defense

        if split_defense(parsed)[0] is not None and d.batch_size % min(
            t.recipe.batch_size, d.batch_size
        ):
            _fail(
                sweep,
                "defense",
                f.spec,
                f"a tier-2 defense acts on whole local batches: recipe batch_size="
                f"{t.recipe.batch_size} must divide data.batch_size={d.batch_size}",
            )


# --------------------------------------------------------------------------------------------
# building a group
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Victims:
    images: np.ndarray  # (V, B, H, W, C) in [0, 1]
    labels: np.ndarray  # (V, B)
    info: list  # per victim: dataset indices, labels, sources
    spec: Any  # the dataset's DataSpec (mean/std for normalized-space metrics)
    class_names: tuple


def load_victims(d: dict, num_victims: int) -> Victims:
    """The first ``num_victims`` victims (``B`` images each) of the split, in its interleaved
    order (victims span sources and labels)."""
    from leakjax import data
    from leakjax.types import DataSpec

    b = int(d["batch_size"])
    n = num_victims * b
    if d["name"] == "random":
        shape = tuple(d.get("image_shape") or (8, 8, 1))
        c = int(d.get("num_classes") or 4)
        rng = np.random.default_rng(0)
        images = rng.uniform(size=(n, *shape)).astype(np.float32)
        labels = (np.arange(n) % c).astype(np.int32)
        spec = DataSpec("random", shape, c, (0.5,) * shape[-1], (0.29,) * shape[-1])
        info = [
            dict(
                indices=list(range(v * b, v * b + b)),
                labels=labels[v * b : v * b + b].tolist(),
                sources=[],
            )
            for v in range(num_victims)
        ]
        return Victims(
            images.reshape(num_victims, b, *shape),
            labels.reshape(num_victims, b),
            info,
            spec,
            tuple(str(i) for i in range(c)),
        )
    if d["name"] == "files":
        ds = data.load_image_files(
            d["paths"],
            list(d["labels"]),
            image_shape=tuple(d["image_shape"]),
            num_classes=d.get("num_classes"),
        )
    else:
        ds = data.load(d["name"], split=d["split"])
    if len(ds) < n:
        raise SweepError(
            f"data={d['name']!r} split={d['split']!r} has {len(ds)} images; {num_victims} victims "
            f"of batch_size={b} need {n}"
        )
    images = np.asarray(ds.images[:n])
    labels = np.asarray(ds.labels[:n])
    info = []
    for v in range(num_victims):
        sl = slice(v * b, v * b + b)
        info.append(
            dict(
                indices=ds.indices[sl].tolist(),
                labels=labels[sl].tolist(),
                names=[ds.class_names[i] for i in labels[sl]],
                sources=list(ds.sources[sl]) if ds.sources else [],
            )
        )
    shape = images.shape[1:]
    return Victims(
        images.reshape(num_victims, b, *shape),
        labels.reshape(num_victims, b),
        info,
        ds.spec,
        ds.class_names,
    )


def build_model(m: dict, input_shape, num_classes: int, public=None, test=None):
    """The model of a configuration, in its state; returns ``(model, info)`` where ``info``
    holds the trained state's test accuracy (``None`` for an untrained model)."""
    from leakjax import models

    kwargs = dict(m["kwargs"])
    kwargs.setdefault("num_classes", num_classes)
    factory = models.MODELS[m["name"]]
    # a factory without an ``init`` argument (lenet, mlp) gets init="torch" as a redraw of its
    # params with PyTorch's nn.Conv2d / nn.Linear defaults (leakjax.models.init.torch_init)
    redraw = m.get("init") == "torch" and "init" not in inspect.signature(factory).parameters
    if m.get("init") and not redraw:
        kwargs["init"] = m["init"]
    model = factory(jax.random.key(int(m["seed"])), input_shape=tuple(input_shape), **kwargs)
    if redraw:
        from leakjax.models.init import torch_init

        key = jax.random.fold_in(jax.random.key(int(m["seed"])), 1)
        model = model.replace(params=torch_init(model.params, key))
    state = m.get("state", "untrained")
    info: dict = {}
    if state == "pretrained":
        # training may set the SGD recipe of "pretrained": lr, batch_size, momentum
        kw = {k: m.get("training", {})[k] for k in PRETRAIN_KEYS if k in m.get("training", {})}
        params = pretrain(model, public, int(m["train_steps"]), seed=m["seed"], **kw)
        model = model.replace(params=params)
    elif state == "fedavg":
        params, curve = fedavg_state(model, m, public, test)
        model = model.replace(params=params)
        info = dict(fedavg_accuracy_curve=curve)
    if state != "untrained" and test is not None:
        info["model_accuracy"] = test_accuracy(model, test)
    return model, info


def test_accuracy(model, test) -> float:
    x, y = test
    logits = jax.jit(model.apply_fn)(model.params, jnp.asarray(x))
    return float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(y)))


def fedavg_state(model, m: dict, public, test):
    """The server's params after ``train_steps`` FedAvg rounds on the public split."""
    from leakjax import fl
    from leakjax.defenses import parse_defense

    t = {**FEDAVG_TRAINING, **m.get("training", {})}
    rounds = int(m["train_steps"])
    if rounds == 0:
        return model.params, []
    recipe = LocalRecipe(
        epochs=int(t["epochs"]),
        batch_size=int(t["batch_size"]),
        lr=float(t["lr"]),
        momentum=float(t["momentum"]),
        weight_decay=float(t["weight_decay"]),
        schedule=t["schedule"],
    )
    x, y = public
    tx, ty = test if test is not None else public
    r = fl.fedavg(
        jax.random.key(2000 + int(m["seed"])),
        model,
        jnp.asarray(x),
        jnp.asarray(y),
        jnp.asarray(tx),
        jnp.asarray(ty),
        defense=parse_defense(t["defense"], 0)[0],
        num_clients=int(t["clients"]),
        rounds=rounds,
        recipe=recipe,
        samples_per_round=int(t["samples_per_round"]),
        dirichlet_alpha=float(t["dirichlet_alpha"]),
        split_seed=int(m["seed"]),
    )
    return r.params, np.asarray(r.test_accuracy).tolist()


def pretrain(
    model,
    public,
    steps: int,
    *,
    seed: int = 0,
    batch_size: int = 32,
    lr: float = 0.1,
    momentum: float = 0.9,
):
    """SGD on the public split (images already in the model's input space, labels) for
    ``steps`` steps: the "pretrained" model state (the server's model after training on data
    it owns). ``Model(training=dict(lr=..., batch_size=..., momentum=...))`` overrides the
    recipe."""
    import optax

    from leakjax.fl.client import client_gradient

    x, y = public
    x, y = jnp.asarray(x), jnp.asarray(y)
    grad = client_gradient(model)
    opt = optax.sgd(float(lr), momentum=float(momentum) or None)

    batch_size = int(batch_size)

    @jax.jit
    def train(params, key):
        def step(carry, k):
            p, s = carry
            i = jax.random.randint(k, (batch_size,), 0, x.shape[0])
            u, s = opt.update(grad(p, x[i], y[i]), s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(key, steps))
        return p

    return train(model.params, jax.random.key(1000 + int(seed)))


def _attack_factory(config: dict, model, dspec, steps: int):
    """``make(numbers: dict) -> Attack`` for the configuration's attack (numbers traced)."""
    from leakjax import attacks

    a = config["attack"]
    name = a["name"]
    static = {k: v for k, v in a["hp"].items() if not is_numeric_hp(k, v) and k not in SPECIAL_HP}
    labels = effective_labels(config)
    t = config["threat"]
    kw: dict = {"spec": dspec}
    if name != "dlg":
        kw["labels"] = labels
        kw["label_rule"] = t["label_rule"]
    if name in ("ig", "gradinversion"):
        kw["max_steps"] = steps
        if t.get("assumed_recipe"):
            kw["recipe"] = LocalRecipe(**t["assumed_recipe"])
    if name in ("ggl", "gias"):
        from leakjax.generative.cli_commands import load_attack_generator

        kw["generator"] = load_attack_generator(a["hp"]["generator"], model, name)
    if name == "analytic_fc":
        kw.pop("label_rule", None)
    factory = attacks.ATTACKS[name]
    params = inspect.signature(factory).parameters
    kw = {k: v for k, v in kw.items() if k in params or k == "spec"}

    def make(numbers: dict):
        extra = dict(numbers)
        lbfgs_lr = extra.pop("lbfgs_lr", a["hp"].get("lbfgs_lr"))
        out = dict(kw, **static, **extra)
        if lbfgs_lr is not None:
            out["optimizer"] = attacks.torch_lbfgs(lr=lbfgs_lr)
        return factory(model, **out)

    return make


@dataclasses.dataclass
class Group:
    """What the runs of one compiled group share."""

    key: str
    config: dict  # a representative configuration
    model: Any
    dspec: Any  # the space the client and attacker work in
    victims: Victims
    program: Any  # program(key, x01, y, anum, dnum) -> dict of arrays
    attack_numbers: tuple  # names of the attack's traced hyperparameters
    steps: int
    restarts: int
    wire: Any
    model_info: dict = dataclasses.field(default_factory=dict)


def attack_numbers(config: dict) -> dict:
    return {k: float(v) for k, v in config["attack"]["hp"].items() if is_numeric_hp(k, v)}


def defense_numbers_of(config: dict) -> list:
    from leakjax.defenses.spec import defense_numbers

    return [float(v) for v in defense_numbers(config["defense"]["spec"])[1]]


def build_group(key: str, config: dict, num_victims: int) -> Group:
    """Build the model, the victims and the run program of one group."""
    from leakjax import attacks, fl
    from leakjax.defenses.comm import upload_bits
    from leakjax.defenses.spec import build_defense, spec_wire_format
    from leakjax.sweep import text as text_runs

    if text_runs.is_text_config(config):  # text runs: leakjax.sweep.text
        return text_runs.build_text_group(key, config, num_victims)

    victims = load_victims(config["data"], num_victims)
    shape = victims.images.shape[2:]
    normalize = config["data"]["normalize"]
    if normalize == "auto":
        normalize = "raw" if config["attack"]["name"] in RAW_PIXEL_ATTACKS else "dataset"
    c = victims.spec.channels
    dspec = victims.spec.with_stats((0.0,) * c, (1.0,) * c) if normalize == "raw" else victims.spec
    public = test = None
    if config["model"].get("state", "untrained") != "untrained":
        from leakjax import data as data_mod

        ds = data_mod.load(config["data"]["name"], split="public")
        public = (np.asarray(dspec.normalize(jnp.asarray(ds.images))), np.asarray(ds.labels))
        held = data_mod.load(config["data"]["name"], split=config["data"]["split"])
        test = (np.asarray(dspec.normalize(jnp.asarray(held.images))), np.asarray(held.labels))
    num_classes = int(config["model"]["kwargs"].get("num_classes", len(victims.class_names)))
    model, model_info = build_model(config["model"], shape, num_classes, public, test)
    steps = attack_steps(config)
    restarts = int(config["attack"]["restarts"])
    make_attack = _attack_factory(config, model, dspec, steps)
    spec_str = config["defense"]["spec"]
    placement = config["defense"]["placement"]
    t = config["threat"]
    recipe = LocalRecipe(**t["recipe"]) if t.get("recipe") else None
    if recipe is not None and placement is not None:
        recipe = recipe.replace(defense_placement=placement)
    reveal = effective_labels(config) == "given"
    wire = spec_wire_format(spec_str)

    def program(key, x01, y, anum, dnum):
        k_client, k_attack = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)
        defense = build_defense(spec_str, 0, list(dnum)) if spec_str not in ("", "none") else None
        if recipe is None:
            obs = fl.observe(
                k_client, model, x01, y, spec=dspec, defense=defense, reveal_labels=reveal
            )
        else:
            obs = fl.observe_update(
                k_client,
                model,
                x01,
                y,
                spec=dspec,
                recipe=recipe,
                defense=defense,
                reveal_labels=reveal,
            )
        atk = make_attack(anum)
        r = attacks.run(atk, k_attack, obs, steps=steps, restarts=restarts)
        return dict(
            inputs=r.inputs,
            labels=r.labels.astype(jnp.int32),
            loss=r.loss,
            status=r.status,
            restart=r.restart,
            bits=upload_bits(obs.update, wire),
        )

    return Group(
        key=key,
        config=config,
        model=model,
        dspec=dspec,
        victims=victims,
        program=program,
        attack_numbers=tuple(sorted(attack_numbers(config))),
        steps=steps,
        restarts=restarts,
        wire=wire,
        model_info=model_info,
    )


@functools.lru_cache(maxsize=8)
def _metric_fn(batch: int, mean: tuple, std: tuple):
    from leakjax import metrics

    def one(recon, truth):
        if batch > 1:
            perm = metrics.match_batch(recon, truth)
            recon = recon[perm]
        else:
            perm = jnp.zeros((1,), jnp.int32)
        return dict(
            perm=perm,
            mse=metrics.mse(recon, truth),
            psnr=metrics.psnr(recon, truth),
            ssim=metrics.ssim(recon, truth),
            mse_norm=metrics.mse(recon, truth, space="normalized", mean=mean, std=std),
            psnr_norm=metrics.psnr(recon, truth, space="normalized", mean=mean, std=std),
        )

    return jax.jit(jax.vmap(one))


def _pad(a: np.ndarray, n: int | None) -> np.ndarray:
    if n is None or len(a) >= n:
        return a
    return np.concatenate([a, np.repeat(a[-1:], n - len(a), axis=0)])


def image_metrics(recon: np.ndarray, truth: np.ndarray, spec, *, pad_to: int | None = None) -> dict:
    """Per-run, per-image metrics of a chunk ``(N, B, H, W, C)`` (Hungarian-matched for B > 1).

    ``pad_to``: pad the chunk to this many runs so every chunk of a group reuses one compiled
    metric program (the padding is dropped from the result)."""
    n = len(recon)
    fn = _metric_fn(int(recon.shape[1]), tuple(spec.mean), tuple(spec.std))
    out = fn(jnp.asarray(_pad(recon, pad_to)), jnp.asarray(_pad(truth, pad_to)))
    return {k: np.asarray(v)[:n] for k, v in out.items()}


def label_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Order-free multiset overlap / B."""
    p, t = np.asarray(pred).ravel().tolist(), np.asarray(true).ravel().tolist()
    hits = 0
    for c in set(t):
        hits += min(p.count(c), t.count(c))
    return hits / max(len(t), 1)


def lpips_metrics(recon: np.ndarray, truth: np.ndarray, *, pad_to: int | None = None) -> dict:
    """Per-run mean LPIPS (v0.1) of a chunk ``(N, B, H, W, C)`` (already matched), for VGG16 and
    AlexNet. A variant whose weights are not installed, or that cannot run at this image size
    (AlexNet needs H, W >= 31), is ``None`` with the reason in ``notes`` (never 0)."""
    from leakjax.metrics import lpips as lpips_mod  # the function
    from leakjax.metrics.lpips import LPIPSInputError, LPIPSWeightsMissing

    n_real = len(recon)
    recon, truth = _pad(recon, pad_to), _pad(truth, pad_to)
    n, b = recon.shape[:2]
    flat_r = jnp.asarray(recon.reshape(n * b, *recon.shape[2:]), jnp.float32)
    flat_t = jnp.asarray(truth.reshape(n * b, *truth.shape[2:]), jnp.float32)
    out, notes = {}, {}
    for net in ("vgg", "alex"):
        try:
            v = np.asarray(lpips_mod(flat_r, flat_t, net=net)).reshape(n, b)
            out[net] = v.mean(axis=1)[:n_real]
        except LPIPSInputError as e:
            out[net], notes[net] = None, f"not computed: {e}"
        except LPIPSWeightsMissing as e:
            out[net], notes[net] = None, f"not computed: LPIPS weights not installed ({e})"
    return {"values": out, "notes": notes}
