"""GGL's Table 3 shape on faces (Li et al., CVPR 2022; card 4; issue 12.6).

Stand-in: the embedded LFW faces at 32x32 (gray replicated to RGB, 100 identities; 50 public,
50 private) for CelebA 32x32. Generator: a DCGAN trained on the **50 public faces** only
(``benchmarks/train_generator.py --dataset faces --unconditional``; unconditional, because the
labels are identities), checkpoint ``benchmarks/results/ggl_generator_faces.msgpack``.
Victim model: DLG's sigmoid LeNet (32x32x3, 100 classes, U(-0.5, 0.5) init, untrained, a fresh
network per seed), dataset-normalized input, one FedSGD gradient of B = 1 private face; 16
victims x 2 seeds per cell (the paper's ResNet-18 with 2 classes is out of reach for DLG/IG on
2 cores).

Defenses (the paper's Table 3): none; Gaussian noise std 0.1 (``noise_std=0.1``); clipping to
global norm 4 (``clip=4``); 90% magnitude sparsity (``prune=0.9``); Soteria pruning 80% of the
classifier's input features (``soteria=80``). Attacks: DLG (labels optimized, raw [0, 1]
pixels, 300 torch-style L-BFGS steps), Inverting Gradients (cosine, TV 0.01, signed Adam, boxed:
plato's preset, iDLG label, 1000 steps), GGL (CMA-ES, population 32, 100 generations, tanh
bound, iDLG label) and adaptive GGL (the defense simulated on every candidate: clipping to the
observed norm, pruning at the observed sparsity, Soteria's observed mask; noise has nothing to
simulate, so no adaptive row). Metrics: PSNR (the paper's is on [-1, 1] images, 6.02 dB below
the [0, 1] PSNR stored here) and LPIPS (VGG and AlexNet).

    flock -x /tmp/leakjax-cpu.lock python benchmarks/run_table.py benchmarks/sweeps/ggl_faces.py \
        --store benchmarks/results/ggl_faces.sqlite --exclusive
"""

from leakjax.sweep import Attack, Data, Defense, Model, Sweep, axis, product, zip_

TINY = globals().get("TINY", False)
GENERATOR = "benchmarks/results/ggl_generator_faces.msgpack"
DLG_STEPS, IG_STEPS, GGL_STEPS = (2, 2, 2) if TINY else (300, 1000, 100)
VICTIMS, SEEDS = (1, 1) if TINY else (16, 2)
DEFENSES = [
    Defense("none"),
    Defense("noise_std=0.1"),
    Defense("clip=4"),
    Defense("prune=0.9"),
    Defense("soteria=80"),
]
SIMULATION = {"clip": "clip", "prune": "prune", "soteria": "soteria"}
if TINY:
    DEFENSES = DEFENSES[:1] + DEFENSES[2:3]


def ggl(**kw):
    return Attack("ggl", steps=GGL_STEPS, generator=GENERATOR, population_size=32, **kw)


MODELS = zip_(
    axis("model", [Model("lenet", seed=s, num_classes=100) for s in range(SEEDS)]),
    axis("seed", list(range(SEEDS))),
)
runs = []
for d in DEFENSES:
    attacks = [
        Attack("dlg", steps=DLG_STEPS),
        Attack("ig", steps=IG_STEPS, preset="plato"),
        ggl(),
    ]
    if d.kind() in SIMULATION:
        attacks.append(ggl(defense_simulation=SIMULATION[d.kind()]))
    runs += product(
        axis("attack", attacks),
        axis("data", [Data("faces", victims=VICTIMS)]),
        axis("defense", [d]),
        MODELS,
    )

SWEEP = Sweep(
    "ggl_faces",
    runs=runs,
    description="GGL's Table 3 shape on embedded faces (stand-in for CelebA 32x32): DLG, IG, GGL "
    "and adaptive GGL under noise 0.1, clipping 4, 90% sparsity and Soteria 80%.",
)
