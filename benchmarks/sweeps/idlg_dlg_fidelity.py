"""iDLG and DLG fidelity on the embedded datasets (issue 2's protocol, issue 10.3's re-measure).

DLG's sigmoid LeNet (U(-0.5, 0.5) weights and biases; 32x32x3 -> 100 classes for photos and
faces, the 28x28x1 variant -> 10 classes for digits, as iDLG's MNIST setting), B = 1, raw [0, 1]
pixels, 300 torch-style L-BFGS steps (lr 1, 20 evaluations per step, history 100; iDLG stops at
matching loss < 1e-6 as its reference does, DLG runs all steps), one start per run (the
references' protocol). Each seed draws a fresh network (model seed = seed) and a fresh start.
Victims: the first 16 of the private split in its interleaved order, so 16 different
photographs (11 photos, then a second crop of 5 of them), 16 different faces, and digits of
every class.

    leakjax sweep benchmarks/sweeps/idlg_dlg_fidelity.py --store benchmarks/results/idlg_dlg_fidelity.sqlite
"""

from leakjax.sweep import Attack, Data, Model, Sweep, axis, product, zip_

TINY = globals().get("TINY", False)
VICTIMS = 2 if TINY else 16
SEEDS = 1 if TINY else 2
STEPS = 2 if TINY else 300
CLASSES = {"photos": 100, "faces": 100, "digits": 10}

runs = []
for name, classes in CLASSES.items():
    runs += product(
        axis("attack", [Attack("idlg", steps=STEPS), Attack("dlg", steps=STEPS)]),
        axis("data", [Data(name, split="private", victims=VICTIMS)]),
        zip_(
            axis("model", [Model("lenet", seed=s, num_classes=classes) for s in range(SEEDS)]),
            axis("seed", list(range(SEEDS))),
        ),
    )

SWEEP = Sweep(
    "idlg_dlg_fidelity",
    runs=runs,
    description="iDLG and DLG, B = 1, 300 L-BFGS steps, single start, 16 diverse victims x 2 "
    "seeds (fresh network per seed) on photos, faces and digits.",
)
