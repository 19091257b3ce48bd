"""GGL vs IG and iDLG under defenses, on digits (issue 5's table, on the engine; issue 11.6).

The engine's form of the setting of the removed hand-rolled ``benchmarks/ggl_defenses.py``
(in git history up to this config's commit). Victim model: DLG's sigmoid LeNet for 28x28x1,
10 classes, a fresh network per seed. Victims: the first 16 images of the digits **private**
split in the default interleaved order (every class), B = 1, x 2 seeds. Generator: the
conditional DCGAN trained on the **public** split (``results/ggl_generator_digits.msgpack``,
``benchmarks/train_generator.py``).

Defenses, at the strengths the old script chose: none; Gaussian noise std 0.1 (its calibration:
IG fell below 12 dB there); global-norm clipping at 12.34 (half the median undefended gradient
norm it measured); magnitude pruning 90%; DGP (0.05 top, 0.8 bottom); Soteria 60%.

Attacks: GGL (CMA-ES, population 32, 60 generations, tanh bound, iDLG label), adaptive GGL (the
defense simulated on every candidate: clip, prune, DGP, Soteria; noise has nothing to
simulate), IG (cosine, TV 1e-4, signed Adam, boxed, 200 steps) and iDLG (30 L-BFGS steps).

Differences from the old script, all from what a sweep cell can express: images are in each
attack's own space (raw [0, 1] for iDLG, the dataset's mean/std otherwise) rather than GGL's
[-1, 1] for everyone, and the semantic class match (a classifier trained on the public split)
is not a stored metric; LPIPS is stored instead.

    python benchmarks/run_table.py benchmarks/sweeps/ggl_defenses.py \\
        --store benchmarks/results/ggl_defenses.sqlite --exclusive --strip-truth
"""

from leakjax.sweep import Attack, Data, Defense, Model, Sweep, axis, product, zip_

TINY = globals().get("TINY", False)
GENERATOR = "benchmarks/results/ggl_generator_digits.msgpack"
GENERATIONS, IG_STEPS, IDLG_STEPS = (2, 2, 2) if TINY else (60, 200, 30)
VICTIMS, SEEDS = (1, 1) if TINY else (16, 2)
DEFENSES = [
    Defense("none"),
    Defense("noise_std=0.1"),
    Defense("clip=12.34"),
    Defense("prune=0.9"),
    Defense("dgp=0.05:0.8"),
    Defense("soteria=60"),
]
SIMULATION = {"clip": "clip", "prune": "prune", "dgp": "dgp", "soteria": "soteria"}
if TINY:
    DEFENSES = DEFENSES[:1] + DEFENSES[3:4]


def ggl(**kw):
    return Attack("ggl", steps=GENERATIONS, generator=GENERATOR, population_size=32, **kw)


MODELS = zip_(
    axis("model", [Model("lenet", seed=s) for s in range(SEEDS)]),
    axis("seed", list(range(SEEDS))),
)
runs = []
for d in DEFENSES:
    attacks = [ggl(), Attack("ig", steps=IG_STEPS), Attack("idlg", steps=IDLG_STEPS)]
    if d.kind() in SIMULATION:
        attacks.insert(1, ggl(defense_simulation=SIMULATION[d.kind()]))
    runs += product(
        axis("attack", attacks),
        axis("data", [Data("digits", victims=VICTIMS)]),
        axis("defense", [d]),
        MODELS,
    )

SWEEP = Sweep(
    "ggl_defenses",
    runs=runs,
    description="GGL, adaptive GGL, IG and iDLG on digits under noise 0.1, clipping 12.34, 90% "
    "pruning, DGP and Soteria 60%: the engine's form of issue 5's table.",
)
