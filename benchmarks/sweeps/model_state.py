"""The model's state decides what leaks (seed 003's Table I shape; issue 12.2).

DLG (labels optimized, raw [0, 1] pixels, 300 torch-style L-BFGS steps) and Inverting
Gradients (plato's csDLG preset: cosine, TV 0.01, signed Adam, boxed, labels given; 2000 steps,
dataset-normalized pixels) on one FedSGD gradient (B = 1) of DLG's sigmoid LeNet (32x32x3,
11 classes: the embedded photos' sources), in six states:

* ``explicit``: untrained, DLG's explicit U(-0.5, 0.5) init of every weight and bias;
* ``torch``: untrained, PyTorch's default ``nn.Conv2d`` / ``nn.Linear`` init
  (U(+-1/sqrt(fan_in)) for weights and biases; ``init="torch"``);
* ``pretrained``: each init trained first on the public split (1000 SGD steps, batch 32,
  lr 0.03, momentum 0.9), in the attack's own input space;
* ``fedavg@t``: the explicit-init LeNet at round t in {5, 40} of a FedAvg training on the public
  split (10 non-IID Dirichlet(0.5) clients, 16 samples per client per round, E = 1, B = 4,
  lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule); the victim's gradient at round
  t + 1 is attacked.

The model's test accuracy on the private split (never trained on) is stored in the
``accuracy`` column next to the leakage. Victims: the first 8 private photos (8 different
photographs) x 2 seeds (a fresh network per seed).

    flock -x /tmp/leakjax-cpu.lock python benchmarks/run_table.py benchmarks/sweeps/model_state.py \
        --store benchmarks/results/model_state.sqlite --exclusive
"""

from leakjax.sweep import Attack, Data, Model, Sweep, Threat, axis, product

TINY = globals().get("TINY", False)
DLG_STEPS, IG_STEPS = (2, 2) if TINY else (300, 2000)
VICTIMS, SEEDS = (1, 1) if TINY else (8, 2)
PRETRAIN = dict(lr=0.03, momentum=0.9, batch_size=32)
PRETRAIN_STEPS = 5 if TINY else 1000
FEDAVG = dict(
    clients=10,
    dirichlet_alpha=0.5,
    samples_per_round=16,
    epochs=1,
    batch_size=4,
    lr=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="cosine",
)
ROUNDS = (1,) if TINY else (5, 40)


def states(seed):
    out = [
        Model("lenet", seed=seed),
        Model("lenet", seed=seed, init="torch"),
        Model("lenet", seed=seed, state="pretrained", train_steps=PRETRAIN_STEPS, training=PRETRAIN),
        Model(
            "lenet",
            seed=seed,
            init="torch",
            state="pretrained",
            train_steps=PRETRAIN_STEPS,
            training=PRETRAIN,
        ),
    ]
    out += [Model("lenet", seed=seed, state="fedavg", train_steps=t, training=FEDAVG) for t in ROUNDS]
    return out[:2] + out[-1:] if TINY else out


runs = []
for s in range(SEEDS):
    runs += product(
        axis(
            "attack",
            [Attack("dlg", steps=DLG_STEPS), Attack("ig", steps=IG_STEPS, preset="plato")],
        ),
        axis("data", [Data("photos", victims=VICTIMS)]),
        axis("model", states(s)),
        axis("seed", [s]),
    )
# IG needs the labels (plato's csDLG is given them); DLG optimizes them
runs = [
    {**r, "threat": Threat(labels="given")} if r["attack"].name == "ig" else r for r in runs
]

SWEEP = Sweep(
    "model_state",
    runs=runs,
    description="DLG and IG on one gradient of the sigmoid LeNet in six states: explicit "
    "U(-0.5, 0.5) init, PyTorch default init, pretrained on public data (both inits), FedAvg "
    "rounds 5 and 40; the model's test accuracy next to the leakage.",
)
