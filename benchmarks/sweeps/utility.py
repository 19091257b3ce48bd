"""Utility and upload cost of each defense in FedAvg on the embedded digits (issues 3 and 11).

A ReLU MLP (784-128-10, Flax default init; a fresh init per seed), the digits private split
spread over 10 clients (Dirichlet(0.5) non-IID; the public split is the test set), normalized
with the dataset's mean/std, every client every round, one local SGD step (batch 16, lr 0.3)
per round, 40 rounds, 3 seeds (model init, client split and minibatches). Each defense acts
where its default placement says (with one local step both placements coincide); GradDefense
is run with and without the server's compensation. Upload bits: the cheapest of dense / index
list / bitmap per tensor, summed over clients.

    leakjax sweep benchmarks/sweeps/utility.py --store benchmarks/results/utility.sqlite
"""

from leakjax.fl import LocalRecipe
from leakjax.sweep import Defense, Model, Sweep, Utility

TINY = globals().get("TINY", False)
SPECS = [
    "none",
    "noise_var=0.0001",
    "noise_var=0.01",
    "laplace_var=0.01",
    "quant=fp16",
    "quant=int8",
    "prune=0.2",
    "prune=0.9",
    "topk=0.1",
    "dgp=0.05:0.8",
    "outpost",
    "soteria=60",
    "graddefense",
    "graddefense_comp",
    "dpsgd=1:1.1",
]
ROUNDS, SEEDS = (2, 1) if TINY else (40, 3)
if TINY:
    SPECS = ["none", "prune=0.9", "dpsgd=1:1.1"]

SWEEP = Sweep(
    "utility",
    utility=[
        Utility(
            model=Model("mlp", seed=s, hidden=[128], activation="relu"),
            data="digits",
            defense=Defense(spec),
            rounds=ROUNDS,
            clients=10,
            recipe=LocalRecipe(epochs=1, batch_size=16, lr=0.3),
            samples_per_round=16,
            seed=s,
        )
        for spec in SPECS
        for s in range(SEEDS)
    ],
    description="FedAvg test accuracy and upload bits per defense, digits, 10 clients.",
)
