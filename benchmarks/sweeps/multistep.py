"""Inverting Gradients against multi-step FedAvg updates (issue 4's table, on the engine;
issue 11.6).

The engine's form of the removed hand-rolled ``benchmarks/multistep.py --grid full --seeds 3``
(in git history up to this config's commit). DLG's sigmoid LeNet (U(-0.5, 0.5) init, untrained,
11 classes, a fresh network per seed), embedded photos in their dataset-normalized space, labels
known. The client runs local SGD (:class:`leakjax.fl.LocalRecipe`: E epochs over its n samples
in mini-batches of B) and shares the weight delta; IG (cosine, TV 1e-4, signed Adam 0.1 with
its decay, boxed, 300 steps) matches it through the attacker's own simulation of the recipe.

Scenarios: FedSGD (one gradient) for every n in {1, 2, 4, 8}; Geiping's 5 local steps at lr
1e-4; the Outpost grid E in {1, 2, 5} x n in {1, 2, 4, 8} x every B in {1, 2, 4, 8} dividing n
at lr 0.01; and the attacker assuming a wrong recipe (E = 1 instead of 5, lr 10x, B = 4 instead
of 1, no momentum instead of 0.9) next to the right one. Victims: the first 4 private photo
batches of n in the interleaved order (different photographs), x 3 seeds.

Differences from the old script: a victim is a batch of n photos taken in the engine's
interleaved order (the old script took the (s+1)-th photo of each of the first n classes), and
PSNR is per image after Hungarian matching as before, averaged over the batch by the engine.

    python benchmarks/run_table.py benchmarks/sweeps/multistep.py \\
        --store benchmarks/results/multistep.sqlite --exclusive --strip-truth
"""

from leakjax.fl import LocalRecipe
from leakjax.sweep import Attack, Data, Model, Sweep, Threat, axis, product, zip_

TINY = globals().get("TINY", False)
STEPS = 2 if TINY else 300
VICTIMS, SEEDS = (1, 1) if TINY else (4, 3)
NS = (1, 2) if TINY else (1, 2, 4, 8)
ES = (1,) if TINY else (1, 2, 5)
LR = 0.01


def recipe(e, b, lr=LR, momentum=0.0):
    return LocalRecipe(epochs=e, batch_size=b, lr=lr, momentum=momentum)


# (n, client recipe or None for FedSGD, attacker's assumed recipe or None = the client's)
SCENARIOS = [(n, None, None) for n in NS]
SCENARIOS += [(1, recipe(5, 1, lr=1e-4), None)]
SCENARIOS += [(n, recipe(e, b), None) for n in NS for b in (1, 2, 4, 8) if n % b == 0 for e in ES]
if not TINY:
    SCENARIOS += [
        (1, recipe(5, 1), recipe(1, 1)),
        (1, recipe(5, 1), recipe(5, 1, lr=10 * LR)),
        (4, recipe(1, 1), recipe(1, 4)),
        (1, recipe(5, 1, momentum=0.9), recipe(5, 1)),
        (1, recipe(5, 1, momentum=0.9), None),
    ]

runs = []
for n, client, assumed in SCENARIOS:
    runs += product(
        axis("attack", [Attack("ig", steps=STEPS)]),
        axis("data", [Data("photos", victims=VICTIMS, batch_size=n)]),
        axis("threat", [Threat(labels="given", recipe=client, assumed_recipe=assumed)]),
        zip_(
            axis("model", [Model("lenet", seed=s) for s in range(SEEDS)]),
            axis("seed", list(range(SEEDS))),
        ),
    )

SWEEP = Sweep(
    "multistep",
    runs=runs,
    description="IG on multi-step FedAvg updates of the sigmoid LeNet: FedSGD per n, Geiping's "
    "5 steps, the E x n x B grid and wrong assumed recipes.",
)
