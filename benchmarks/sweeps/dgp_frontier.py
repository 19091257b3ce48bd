"""DGP's claim: privacy, accuracy and upload bits together (seed 000, Xue et al. 2024; issue 12.4).

The claim as the seed gives it: dual gradient pruning (withhold the largest *and* the smallest
entries of each tensor, send the middle band, keep both ends as error feedback) defends against
gradient inversion at a lower communication cost than the usual defenses, without losing
accuracy. DGP's paper has no public code or tables to quote, so this sweep draws the three-way
frontier and the README says whether it supports the claim.

Attack side: DLG's sigmoid LeNet, 28x28x1 variant (10 classes, U(-0.5, 0.5) init, a fresh
network per seed), embedded digits (dataset-normalized), one FedSGD gradient of B = 1 private
digit; 8 victims x 2 seeds per cell. Defenses: none; DGP over (top, bottom) withheld fractions
{0.01, 0.05, 0.1} x {0.5, 0.8}; top-k with error feedback sending {50%, 20%, 5%}; magnitude
pruning of {50%, 80%, 90%, 95%}; Gaussian noise std {0.01, 0.03, 0.1}. Attacks: Inverting
Gradients (cosine, TV 0.01, signed Adam, boxed: plato's preset, labels inferred by the iDLG
rule, 1000 steps); GGL with the digits generator trained on the public split
(``benchmarks/results/ggl_generator_digits.msgpack``; CMA-ES, population 32, 60 generations,
tanh bound, iDLG label); adaptive GGL simulating the defense on every candidate (DGP's band
with the top fraction known, top-k / pruning at the observed sparsity; noise has nothing to
simulate, so no adaptive row). Utility: FedAvg with the same LeNet and defense on the digits'
private split (10 clients, Dirichlet 0.5, 16 samples per client per round, E = 1, B = 4,
lr 0.1, momentum 0.9, weight decay 5e-4), 40 rounds, 2 seeds; upload bits per client update.

    flock -x /tmp/leakjax-cpu.lock python benchmarks/run_table.py benchmarks/sweeps/dgp_frontier.py \
        --store benchmarks/results/dgp_frontier.sqlite --exclusive
"""

from leakjax.fl import LocalRecipe
from leakjax.sweep import Attack, Data, Defense, Model, Sweep, Utility, axis, product, zip_

TINY = globals().get("TINY", False)
GENERATOR = "benchmarks/results/ggl_generator_digits.msgpack"
IG_STEPS, GGL_STEPS = (2, 2) if TINY else (1000, 60)
VICTIMS, SEEDS = (1, 1) if TINY else (8, 2)
ROUNDS, UTIL_SEEDS = (2, 1) if TINY else (40, 2)

DGP = [(t, b) for t in (0.01, 0.05, 0.1) for b in (0.5, 0.8)]
DEFENSES = (
    [Defense("none")]
    + [Defense(f"dgp={t}:{b}") for t, b in DGP]
    + Defense.grid("topk", [0.5, 0.2, 0.05])
    + Defense.grid("prune", [0.5, 0.8, 0.9, 0.95])
    + Defense.grid("noise_std", [0.01, 0.03, 0.1])
)
if TINY:
    DEFENSES = [DEFENSES[0], DEFENSES[1], DEFENSES[7]]


def adaptive(d: Defense):
    """The adaptive GGL of a defense (None: nothing to simulate)."""
    kind = d.kind()
    if kind == "dgp":
        top = float(d.spec.split("=")[1].split(":")[0])
        return Attack(
            "ggl",
            steps=GGL_STEPS,
            generator=GENERATOR,
            population_size=32,
            defense_simulation="dgp",
            simulation_kwargs={"top_fraction": top},
        )
    if kind in ("topk", "prune"):
        return Attack(
            "ggl", steps=GGL_STEPS, generator=GENERATOR, population_size=32, defense_simulation=kind
        )
    return None


MODELS = zip_(
    axis("model", [Model("lenet", seed=s) for s in range(SEEDS)]),
    axis("seed", list(range(SEEDS))),
)
DATA = axis("data", [Data("digits", victims=VICTIMS)])
runs = []
for d in DEFENSES:
    attacks = [
        Attack("ig", steps=IG_STEPS, preset="plato"),
        Attack("ggl", steps=GGL_STEPS, generator=GENERATOR, population_size=32),
    ]
    if adaptive(d) is not None:
        attacks.append(adaptive(d))
    runs += product(axis("attack", attacks), DATA, axis("defense", [d]), MODELS)

utility = [
    Utility(
        model=Model("lenet", seed=s),
        data="digits",
        defense=d,
        rounds=ROUNDS,
        clients=10,
        recipe=LocalRecipe(epochs=1, batch_size=4, lr=0.1, momentum=0.9, weight_decay=5e-4),
        samples_per_round=16,
        seed=s,
    )
    for d in DEFENSES
    for s in range(UTIL_SEEDS)
]

SWEEP = Sweep(
    "dgp_frontier",
    runs=runs,
    utility=utility,
    description="DGP vs top-k (error feedback), magnitude pruning and noise on digits: IG, GGL and "
    "adaptive GGL leakage, FedAvg accuracy and upload bits per defense (the three-way frontier).",
)
