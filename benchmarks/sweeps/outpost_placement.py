"""Outpost per local step against Outpost on the shared update (issue 10's acceptance table).

The client holds n = 1 photo and runs E local epochs of SGD (B = 1, lr 0.01, plato's Outpost
setting), so K = E local steps, and shares the weight delta. Outpost (beta 0.125, phi 40%,
80% pruning, noise base 0.8: plato's defaults) acts either on every local step (its paper and
plato: the decision probability 1/(1 + beta t) decays over t = 1..K, and the defended gradient
drives each step) or once on the final update (the same transform on the pseudo-gradient
-delta / (lr K), t = 1). No defense as the baseline. Attack: Inverting Gradients matching the
delta through the client's own local training (labels known, cosine, TV 1e-4, signed Adam 0.1,
300 steps, boxed). Models: DLG's sigmoid LeNet (100 classes) and Geiping's ConvNet at width 16
(PyTorch init, BN eval), both untrained; 8 diverse photos (LeNet) and 4 (ConvNet), 1 seed.

    leakjax sweep benchmarks/sweeps/outpost_placement.py --store benchmarks/results/outpost_placement.sqlite
"""

from leakjax.fl import LocalRecipe
from leakjax.sweep import Attack, Data, Defense, Model, Sweep, Threat, axis, product

TINY = globals().get("TINY", False)
STEPS = 2 if TINY else 300
EPOCHS = (1, 2) if TINY else (1, 5)
DEFENSES = [Defense("none"), Defense("outpost", "step"), Defense("outpost", "update")]

runs = []
for model, victims in ((Model("lenet", num_classes=100), 2 if TINY else 8),
                       (Model("convnet", width=4 if TINY else 16, num_classes=11), 1 if TINY else 4)):
    for e in EPOCHS:
        runs += product(
            axis("attack", [Attack("ig", steps=STEPS)]),
            axis("model", [model]),
            axis("data", [Data("photos", victims=victims)]),
            axis("threat", [Threat(labels="given", recipe=LocalRecipe(epochs=e, lr=0.01))]),
            axis("defense", DEFENSES),
        )

SWEEP = Sweep(
    "outpost_placement",
    runs=runs,
    description="IG on a FedAvg delta (E local epochs, n = B = 1, lr 0.01) against Outpost per "
    "local step and Outpost once on the update.",
)
