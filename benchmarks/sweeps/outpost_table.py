"""Outpost's table (Wang, Hugh, Li, INFOCOM 2023; card 13) and its production-FL grid (issue 12.3).

Stand-ins, labelled as such: the embedded ``digits`` (28x28x1, 10 classes) for EMNIST and the
embedded ``photos`` (32x32x3, 11 classes) for CIFAR-10 (tfds data is not prepared on this
machine). Model: DLG's sigmoid LeNet (U(-0.5, 0.5) weights and biases; the 28x28x1 variant for
digits), untrained, a fresh network per seed (attack at round 1, as plato). Images are
normalized with the dataset's mean/std (plato works in normalized space).

Client: n samples, E local epochs of SGD in mini-batches of B (lr 0.01, plato's setting), the
weight delta is shared. Defenses at plato's strength, each acting **per local step**: none;
GC = magnitude pruning of 80% per tensor (``prune=0.8``); DP = Laplace noise of scale 0.1
(``laplace=0.1``, plato's "epsilon"); Soteria 50% (``soteria=50``); GradDefense (10 slices,
5 perturbed, std 0.01, per-example clipping: ``graddefense=0.01:5:10``; Q = 6 only matters for
the server's compensation, so the utility runs use ``graddefense_comp=0.01:5:10:6``); Outpost
with plato's defaults (``outpost``: beta 0.125, phi 40%, prune 80%, noise base 0.8).

Attack: Inverting Gradients matching the weight delta through the client's own local training
(plato's csDLG, ``preset="plato"``: cosine, TV 0.01, signed Adam 0.1 with step decay, boxed,
labels given, last iterate), 2000 steps in the table (plato's ``untrained_eval``), 1000 in the
grid. Metrics in the paper's space: ``mse_norm`` (normalized-space MSE), LPIPS (VGG), SSIM.

Table: E = 1, n = 1, B = 1, 8 private victims x 2 seeds per cell. Production-FL grid (none and
Outpost): E in {1, 2, 5}, n in {1, 4, 8} with B = n, n = 8 with B in {2, 1}, momentum 0.9 with
E = 5, and E = 5, n = 4, B = 2, momentum 0.9, weight decay 5e-4, cosine schedule; 4 victims x 1
seed. Utility: FedAvg on each dataset's private split (10 clients, Dirichlet 0.5, 16 samples per
client per round, E = 1, B = 4, lr 0.1, momentum 0.9, weight decay 5e-4), 40 rounds, 2 seeds,
every defense per local step (GradDefense with and without the server's compensation); the rows
carry ``accuracy_curve`` and ``round_seconds``.

    flock -x /tmp/leakjax-cpu.lock python benchmarks/run_table.py benchmarks/sweeps/outpost_table.py \
        --store benchmarks/results/outpost_table.sqlite --exclusive
"""

from leakjax.fl import LocalRecipe
from leakjax.sweep import Attack, Data, Defense, Model, Sweep, Threat, Utility, axis, product, zip_

TINY = globals().get("TINY", False)
TABLE_STEPS = 2 if TINY else 2000
GRID_STEPS = 2 if TINY else 1000
VICTIMS, SEEDS, GRID_VICTIMS = (1, 1, 1) if TINY else (8, 2, 4)
ROUNDS, UTIL_SEEDS = (2, 1) if TINY else (40, 2)
DATASETS = ("digits",) if TINY else ("digits", "photos")
LR = 0.01  # plato's local learning rate

# (label, attack-side defense, utility-side defense)
DEFENSES = [
    ("none", Defense("none"), Defense("none")),
    ("GC", Defense("prune=0.8", "step"), Defense("prune=0.8", "step")),
    ("DP", Defense("laplace=0.1", "step"), Defense("laplace=0.1", "step")),
    ("Soteria", Defense("soteria=50"), Defense("soteria=50")),
    ("GradDefense", Defense("graddefense=0.01:5:10"), Defense("graddefense_comp=0.01:5:10:6")),
    ("Outpost", Defense("outpost", "step"), Defense("outpost", "step")),
]
if TINY:
    DEFENSES = [DEFENSES[0], DEFENSES[5]]
ATTACK_DEFENSES = [d for _, d, _ in DEFENSES]

# production-FL grid: (E, n, B, momentum, weight decay, schedule)
GRID = [
    (2, 1, 1, 0.0, 0.0, "constant"),
    (5, 1, 1, 0.0, 0.0, "constant"),
    (1, 4, 4, 0.0, 0.0, "constant"),
    (1, 8, 8, 0.0, 0.0, "constant"),
    (1, 8, 2, 0.0, 0.0, "constant"),
    (1, 8, 1, 0.0, 0.0, "constant"),
    (5, 1, 1, 0.9, 0.0, "constant"),
    (5, 4, 2, 0.9, 5e-4, "cosine"),
]
if TINY:
    GRID = GRID[:1]


def threat(e, b, momentum=0.0, wd=0.0, schedule="constant"):
    return Threat(
        labels="given",
        recipe=LocalRecipe(
            epochs=e, batch_size=b, lr=LR, momentum=momentum, weight_decay=wd, schedule=schedule
        ),
    )


runs = []
for name in DATASETS:
    runs += product(
        axis("attack", [Attack("ig", steps=TABLE_STEPS, preset="plato")]),
        axis("data", [Data(name, victims=VICTIMS)]),
        axis("threat", [threat(1, 1)]),
        axis("defense", ATTACK_DEFENSES),
        zip_(
            axis("model", [Model("lenet", seed=s) for s in range(SEEDS)]),
            axis("seed", list(range(SEEDS))),
        ),
    )
    for e, n, b, m, wd, sch in GRID:
        runs += product(
            axis("attack", [Attack("ig", steps=GRID_STEPS, preset="plato")]),
            axis("data", [Data(name, victims=GRID_VICTIMS, batch_size=n)]),
            axis("threat", [threat(e, b, m, wd, sch)]),
            axis("defense", [Defense("none"), Defense("outpost", "step")]),
            axis("model", [Model("lenet")]),
        )

utility = [
    Utility(
        model=Model("lenet", seed=s),
        data=name,
        defense=u,
        rounds=ROUNDS,
        clients=10,
        recipe=LocalRecipe(epochs=1, batch_size=4, lr=0.1, momentum=0.9, weight_decay=5e-4),
        samples_per_round=16,
        seed=s,
    )
    for name in DATASETS
    for u in [u for _, _, u in DEFENSES] + ([] if TINY else [Defense("graddefense=0.01:5:10")])
    for s in range(UTIL_SEEDS)
]

SWEEP = Sweep(
    "outpost_table",
    runs=runs,
    utility=utility,
    description="Outpost's table on stand-in data (digits for EMNIST, photos for CIFAR-10): IG "
    "(plato csDLG) on the weight delta against each defense per local step, the production-FL "
    "grid (E, n, B, momentum) and FedAvg accuracy per defense.",
)
