"""Declaring a sweep: typed axis values, and how axes combine (product, zip, conditional).

A sweep file is a Python file that defines ``SWEEP = Sweep(...)``. Its runs come from an *axis
expression* over the run fields:

==========  ======================================================================
field       value type
==========  ======================================================================
attack      :class:`Attack` (name, steps, restarts, hyperparameters)
model       :class:`Model` (zoo name, init, seed, keyword arguments, training state)
data        :class:`Data` (dataset, split, number of victims, batch size B)
threat      :class:`Threat` (labels known or inferred by a rule; the local-training recipe
            of the client and the one the attacker assumes)
defense     :class:`Defense` (a spec string as :func:`leakjax.defenses.parse_defense` reads
            it, and where it acts: per local step or on the update)
seed        int (the attack's and the client's randomness)
==========  ======================================================================

Victims are not an axis the user writes: ``Data(victims=V)`` makes each run of the other axes
a run per victim (victim v holds images ``v*B .. v*B+B-1`` of the split, in the interleaved
order of :func:`leakjax.data.load_embedded`, so victims span photographs, faces and labels).

Combinators (each returns a list of partial run dicts):

* ``axis(field, values)``: one field over several values;
* ``product(*exprs)``: every combination;
* ``zip_(*exprs)``: element-wise (equal lengths);
* ``when(predicate, expr)``: inside a product, combine with ``expr`` only the partial runs for
  which ``predicate(run)`` is true (e.g. a TV-weight axis only for IG); the others pass through
  unchanged.

Numbers written as lists inside :class:`Attack` or :class:`Defense` (``Defense.grid``,
``Attack(..., tv_weight=[...])``) expand into one value each. Runs that differ only in numbers
(seeds, victims, defense strengths, float hyperparameters) share one compiled program, with the
numbers as batch axes (:mod:`leakjax.sweep.plan`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from leakjax.fl.local import LocalRecipe

FIELDS = ("attack", "model", "data", "threat", "defense", "seed")


def _freeze(v):
    if isinstance(v, Mapping):
        return tuple(sorted((str(k), _freeze(x)) for k, x in v.items()))
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    return v


@dataclasses.dataclass(frozen=True)
class Attack:
    """An attack of :data:`leakjax.attacks.ATTACKS` with its run length and hyperparameters.

    Attributes:
      name: the attack's name (``"dlg"``, ``"idlg"``, ``"ig"``, ``"gradinversion"``, ``"ggl"``,
        ``"gias"``, ``"analytic_fc"``, or a text attack name).
      steps: attack steps (the attack's reference default when ``None``).
      restarts: independent starts; the best by matching loss is kept.
      hp: keyword arguments of the attack's factory. Floats are batch axes (traced); ints,
        bools and strings are static structure. ``lbfgs_lr`` sets the torch-style L-BFGS
        learning rate of DLG/iDLG; ``preset`` an IG preset; ``generator`` a checkpoint path
        (GGL/GIAS).
    """

    name: str
    steps: int | None = None
    restarts: int = 1
    hp: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __init__(self, name: str, steps: int | None = None, restarts: int = 1, **hp):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "restarts", restarts)
        object.__setattr__(self, "hp", dict(hp))

    def expand(self) -> list[Attack]:
        lists = {k: v for k, v in self.hp.items() if isinstance(v, list)}
        if not lists:
            return [self]
        keys = list(lists)
        out = []
        for combo in itertools.product(*(lists[k] for k in keys)):
            hp = {**self.hp, **dict(zip(keys, combo))}
            out.append(Attack(self.name, self.steps, self.restarts, **hp))
        return out

    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.hp.items()))
        return self.name + (f"({extra})" if extra else "")

    def __hash__(self):
        return hash((self.name, self.steps, self.restarts, _freeze(self.hp)))


@dataclasses.dataclass(frozen=True)
class Model:
    """A zoo model (:data:`leakjax.models.MODELS`) and its state.

    Attributes:
      name: zoo name (``"lenet"``, ``"mlp"``, ``"convnet"``, ``"resnet18"``, ``"resnet20"``,
        ``"transformer"``...).
      seed: initialization seed.
      init: ``"torch"`` / ``"flax"`` for the ConvNet and ResNets (``None``: the zoo default);
        for the LeNet and MLP, ``"torch"`` redraws the params with PyTorch's ``nn.Conv2d`` /
        ``nn.Linear`` defaults (:func:`leakjax.models.init.torch_init`).
      kwargs: other factory arguments (``width``, ``bn_mode``, ``hidden``...).
      state: ``"untrained"`` (default); ``"pretrained"`` (trained on the dataset's public split
        for ``train_steps`` SGD steps, batch 32, lr 0.1, momentum 0.9, before the attack: the
        server owns that data); or ``"fedavg"``: the server's model **at round t** of a FedAvg
        training (:func:`leakjax.fl.fedavg`) on the dataset's public split spread over
        non-IID clients, with ``t = train_steps`` rounds done; the victim's update at round
        ``t + 1`` is attacked, and the model's test accuracy (on the victims' split, which FedAvg
        never trained on) is stored next to the leakage.
      train_steps: SGD steps of ``"pretrained"``, FedAvg rounds of ``"fedavg"``.
      training: FedAvg settings for ``"fedavg"``: ``clients`` (10), ``dirichlet_alpha`` (0.5),
        ``samples_per_round`` (16), ``defense`` (a spec every client applies, ``"none"``), and
        the clients' recipe: ``epochs`` (1), ``batch_size`` (16), ``lr`` (0.1), ``momentum``
        (0), ``weight_decay`` (0), ``schedule`` ("constant"). For ``"pretrained"``: ``lr``
        (0.1), ``batch_size`` (32) and ``momentum`` (0.9) of its SGD.
    """

    name: str
    seed: int = 0
    init: str | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    state: str = "untrained"
    train_steps: int = 0
    training: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __init__(
        self, name, *, seed=0, init=None, state="untrained", train_steps=0, training=None, **kwargs
    ):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "init", init)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "train_steps", train_steps)
        object.__setattr__(self, "training", dict(training or {}))
        object.__setattr__(self, "kwargs", dict(kwargs))

    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.kwargs.items())]
        if self.seed:
            parts.append(f"seed={self.seed}")
        if self.init:
            parts.append(f"init={self.init}")
        if self.state != "untrained":
            parts.append(f"{self.state}:{self.train_steps}")
        return self.name + (f"({','.join(parts)})" if parts else "")

    def __hash__(self):
        return hash(
            (self.name, self.seed, self.init, self.state, self.train_steps, _freeze(self.kwargs))
        )


@dataclasses.dataclass(frozen=True)
class Data:
    """Victims from a dataset.

    Attributes:
      name: an embedded dataset (``"digits"``, ``"photos"``, ``"faces"``), a TFDS name, or a
        text dataset (``"text-random"``, ``"text-pydoc"``).
      split: ``"private"`` (default: victims come from the private split), ``"public"``,
        ``"all"``, or a TFDS split.
      victims: number of victims V (each a batch of ``batch_size`` images).
      batch_size: B, images per victim (the client's batch; n samples for a FedAvg client).
      normalize: ``"auto"`` (raw [0, 1] pixels for DLG/iDLG, the dataset's mean/std
        otherwise, as the references do), ``"raw"`` or ``"dataset"``.
      image_shape, num_classes: for ``name="random"`` (uniform noise images with cycling
        labels: tests and speed benchmarks) and ``name="files"`` (the shape files are resized
        to; the number of classes of the model).
      paths, labels: for ``name="files"``: PNG/JPEG files (read with
        :func:`leakjax.data.load_image_files`) and one integer label per file. A run's identity
        includes each file's SHA-256, so an edited file is a new run.
      seq_len, vocab_size, tokenizer: for text data (:mod:`leakjax.sweep.text`): tokens per
        sequence (default 16); ``text-random``'s number of token ids, or ``text-pydoc``'s
        tokenizer size (default 1024); ``text-pydoc``'s tokenizer, ``"bpe"`` (default) or
        ``"word"`` trained on the public topics, or a tokenizer JSON file (its SHA-256 is part
        of the run's identity). ``num_classes`` gives a text classifier's classes.
    """

    name: str
    split: str = "private"
    victims: int = 1
    batch_size: int = 1
    normalize: str = "auto"
    image_shape: tuple | None = None
    num_classes: int | None = None
    paths: tuple = ()
    labels: tuple = ()
    seq_len: int | None = None
    vocab_size: int | None = None
    tokenizer: str | None = None

    def label(self) -> str:
        return f"{self.name}/{self.split}/B{self.batch_size}"


@dataclasses.dataclass(frozen=True)
class Threat:
    """What the attacker knows.

    Attributes:
      labels: ``"given"`` (the server knows them), ``"infer"`` (by ``label_rule``) or
        ``"optimize"`` (DLG). ``None``: the attack's own default.
      label_rule: a rule of :data:`leakjax.attacks.LABEL_RULES`.
      recipe: the client's local training (:class:`leakjax.fl.LocalRecipe`); ``None`` means one
        gradient (FedSGD).
      assumed_recipe: the recipe the attacker simulates (``None``: the client's).
    """

    labels: str | None = None
    label_rule: str = "idlg"
    recipe: LocalRecipe | None = None
    assumed_recipe: LocalRecipe | None = None

    def label(self) -> str:
        out = f"labels={self.labels or 'default'}"
        if self.labels == "infer":
            out += f":{self.label_rule}"
        if self.recipe is not None:
            r = self.recipe
            out += f",E{r.epochs}B{r.batch_size}lr{r.lr:g}"
            if r.momentum:
                out += f"m{r.momentum:g}"
        if self.assumed_recipe is not None and self.assumed_recipe != self.recipe:
            out += ",assumed:" + repr(self.assumed_recipe)
        return out


@dataclasses.dataclass(frozen=True)
class Defense:
    """A defense as a spec string (``"prune=0.9"``, ``"clip=4,noise_std=0.01"``, ``"none"``).

    Attributes:
      spec: :func:`leakjax.defenses.parse_defense` syntax.
      placement: ``"step"`` or ``"update"`` (only meaningful with a multi-step recipe),
        ``None`` for the defense's default (:mod:`leakjax.defenses.placement`).
    """

    spec: str = "none"
    placement: str | None = None

    @staticmethod
    def grid(name: str, values: Iterable, placement: str | None = None) -> list[Defense]:
        """``[Defense(f"{name}={v}") for v in values]``."""
        return [
            Defense(f"{name}={v!r}" if isinstance(v, float) else f"{name}={v}", placement)
            for v in values
        ]

    def kind(self) -> str:
        from leakjax.defenses.spec import defense_numbers

        return defense_numbers(self.spec)[0]

    def label(self) -> str:
        return self.spec + (f"@{self.placement}" if self.placement else "")


@dataclasses.dataclass(frozen=True)
class Utility:
    """A FedAvg utility run: test accuracy, upload bits (and epsilon) for one defense.

    Attributes:
      model, data: the shared model and the dataset (clients hold its ``train_split``, accuracy
        on ``test_split``).
      defense: the same :class:`Defense` an attack faces.
      rounds, clients, samples_per_round, dirichlet_alpha: the FedAvg simulation.
      recipe: the clients' local training.
      seed: model init offset, client split and minibatches.
    """

    model: Model
    data: str = "digits"
    defense: Defense = Defense()
    rounds: int = 20
    clients: int = 10
    recipe: LocalRecipe = LocalRecipe(epochs=1, batch_size=16, lr=0.1)
    samples_per_round: int = 16
    dirichlet_alpha: float = 0.5
    train_split: str = "private"
    test_split: str = "public"
    seed: int = 0


def axis(field: str, values: Iterable) -> list[dict]:
    """One field over several values (Attack/Defense values with list numbers are expanded)."""
    if field not in FIELDS:
        raise ValueError(f"axis: field={field!r}, expected one of {FIELDS}")
    out = []
    for v in [values] if isinstance(values, str) else list(values):
        items = v.expand() if isinstance(v, Attack) else [v]
        out.extend({field: i} for i in items)
    if not out:
        raise ValueError(f"axis: field={field!r} has no values")
    return out


def _merge(a: dict, b: dict) -> dict:
    clash = set(a) & set(b)
    if clash:
        raise ValueError(f"product/zip_: field(s) {sorted(clash)} are set twice")
    return {**a, **b}


class _When:
    def __init__(self, predicate, expr):
        self.predicate = predicate
        self.expr = expr


def when(predicate: Callable[[dict], bool], expr: Sequence[dict]) -> _When:
    """A conditional axis for :func:`product`: combined only with partial runs where
    ``predicate(run)`` holds (``run`` maps fields to values, e.g. ``run["attack"].name``)."""
    return _When(predicate, list(expr))


def product(*exprs) -> list[dict]:
    """Every combination of the expressions (left to right; :func:`when` parts conditional)."""
    runs = [{}]
    for e in exprs:
        if isinstance(e, _When):
            nxt = []
            for r in runs:
                if e.predicate(r):
                    nxt.extend(_merge(r, x) for x in e.expr)
                else:
                    nxt.append(r)
            runs = nxt
        else:
            runs = [_merge(r, x) for r in runs for x in e]
    return runs


def zip_(*exprs) -> list[dict]:
    """Element-wise combination of expressions of equal length."""
    lengths = {len(e) for e in exprs}
    if len(lengths) > 1:
        raise ValueError(f"zip_: expressions have different lengths {sorted(lengths)}")
    return [dict(itertools.chain.from_iterable(d.items() for d in group)) for group in zip(*exprs)]


@dataclasses.dataclass
class Sweep:
    """A named sweep: attack runs from an axis expression, plus FedAvg utility runs.

    Attributes:
      name: the sweep's name (the store keeps runs of several sweeps apart by it).
      runs: a list of partial run dicts (from :func:`product` / :func:`zip_` / :func:`axis`);
        missing fields take the defaults below.
      utility: FedAvg utility runs (accuracy and bits per defense).
      defaults: default field values (``threat=Threat()``, ``defense=Defense()``, ``seed=0``).
      description: free text shown in the report.
    """

    name: str
    runs: list = dataclasses.field(default_factory=list)
    utility: list = dataclasses.field(default_factory=list)
    defaults: dict = dataclasses.field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Sweep: name={self.name!r}, expected a non-empty string")

    def cells(self) -> list[dict]:
        """The runs' field dicts with defaults filled (before victims are expanded)."""
        base = {"threat": Threat(), "defense": Defense(), "seed": 0, **self.defaults}
        out = []
        for i, r in enumerate(self.runs):
            if not isinstance(r, Mapping):
                raise TypeError(f"Sweep {self.name!r}: runs[{i}]={r!r}, expected a dict of fields")
            unknown = set(r) - set(FIELDS)
            if unknown:
                raise ValueError(
                    f"Sweep {self.name!r}: runs[{i}] has unknown field(s) {sorted(unknown)}; "
                    f"expected fields {FIELDS}"
                )
            cell = {**base, **r}
            missing = [f for f in ("attack", "model", "data") if f not in cell]
            if missing:
                raise ValueError(f"Sweep {self.name!r}: runs[{i}] lacks field(s) {missing}")
            out.append(cell)
        return out


def seeds(n: int) -> list[dict]:
    """``axis("seed", range(n))``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"seeds: n={n!r}, expected a positive integer")
    return axis("seed", list(range(n)))


def count_runs(sweep: Sweep) -> int:
    return sum(c["data"].victims for c in sweep.cells()) + len(sweep.utility)


__all__ = [
    "Attack",
    "Data",
    "Defense",
    "FIELDS",
    "Model",
    "Sweep",
    "Threat",
    "Utility",
    "axis",
    "count_runs",
    "product",
    "seeds",
    "when",
    "zip_",
]
