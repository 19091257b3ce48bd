"""DLG and iDLG against each defense (DLG's defense findings; issues 3, 11 and 12.5).

DLG (labels optimized) and iDLG (label inferred from the update) on DLG's sigmoid LeNet
(32x32x3, 100 classes, U(-0.5, 0.5) init, a fresh network per seed), raw [0, 1] pixels, B = 1,
300 torch-style L-BFGS steps (DLG's protocol), one start. Victims: the first 8 photos of the
private split in its interleaved order (8 different photographs), x 2 seeds = 16 runs per cell.
Defenses: DLG's own findings for both attacks (Gaussian noise of variance 1e-4..1e-1, fp16 /
bf16 / int8, magnitude pruning 10-90%), and the other defenses against iDLG (Laplace noise,
DGP, Outpost, Soteria, GradDefense, DP-SGD). The defended gradient is the client's
``observe(..., defense=...)``: the same transform objects as the utility sweep.

    leakjax sweep benchmarks/sweeps/dlg_defenses.py --store benchmarks/results/dlg_defenses.sqlite
"""

from leakjax.sweep import Attack, Data, Defense, Model, Sweep, axis, product, zip_

TINY = globals().get("TINY", False)
STEPS = 2 if TINY else 300
VICTIMS = 1 if TINY else 8
SEEDS = 1 if TINY else 2

FINDINGS = (
    [Defense("none")]
    + Defense.grid("noise_var", [1e-4, 1e-3, 1e-2, 1e-1])
    + [Defense("quant=fp16"), Defense("quant=bf16"), Defense("quant=int8")]
    + Defense.grid("prune", [0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
)
OTHERS = [
    Defense("laplace_var=0.0001"),
    Defense("laplace_var=0.01"),
    Defense("dgp=0.05:0.8"),
    Defense("outpost"),
    Defense("soteria=60"),
    Defense("graddefense"),
    Defense("dpsgd=1:1.1"),
]
if TINY:
    FINDINGS, OTHERS = FINDINGS[:3], OTHERS[:1]

MODELS = zip_(
    axis("model", [Model("lenet", seed=s, num_classes=100) for s in range(SEEDS)]),
    axis("seed", list(range(SEEDS))),
)
DATA = axis("data", [Data("photos", split="private", victims=VICTIMS)])

SWEEP = Sweep(
    "dlg_defenses",
    runs=product(axis("attack", [Attack("dlg", steps=STEPS), Attack("idlg", steps=STEPS)]),
                 DATA, axis("defense", FINDINGS), MODELS)
    + product(axis("attack", [Attack("idlg", steps=STEPS)]), DATA, axis("defense", OTHERS),
              MODELS),
    description="DLG and iDLG vs defenses on DLG's LeNet, 8 diverse photos x 2 seeds, 300 steps.",
)
