"""TAG and DLG-text fidelity (issue 13's acceptance): the untrained 3-layer causal transformer,
16-token sequences, B = 1, on random tokens and on pydoc text, 16 sequences x 2 seeds.

``transformer3`` (causal mask; breaching's case runs unmasked) with a fresh network per seed
(model seed = seed). Random tokens: ids uniform over 1024 tokens, each victim from its own key.
pydoc: the private topics under the pydoc BPE tokenizer (1024 tokens, trained on the public
topics), 16 windows of 16 tokens, one per topic (round-robin). TAG: breaching's settings
(``leakjax.attacks.tag``: L2 + 0.1 * linear-weighted L1, AdamW lr 0.05, 50 warm-up steps then
linear decay over the 1000 steps, per-unknown clipping, soft labels optimized, best iterate
kept), one start. DLG-text: torch-style L-BFGS (lr 1, <= 20 evaluations per step), 50 steps
(~1000 objective evaluations, TAG's budget), one start.

    flock -x /tmp/leakjax-cpu.lock leakjax sweep benchmarks/sweeps/text_tag.py \\
        --store benchmarks/results/text_tag.sqlite
"""

from leakjax.sweep import Attack, Data, Model, Sweep, axis, product, zip_

TINY = globals().get("TINY", False)
if TINY:
    MODEL = dict(name="transformer_lm", num_layers=1, d_model=16, num_heads=2, d_ff=32)
    VICTIMS, SEEDS, SEQ, TAG_STEPS, DLG_STEPS = 1, 1, 4, 2, 1
    DATA = [Data("text-random", victims=VICTIMS, seq_len=SEQ, vocab_size=32)]
else:
    MODEL = dict(name="transformer3")
    VICTIMS, SEEDS, SEQ, TAG_STEPS, DLG_STEPS = 16, 2, 16, 1000, 50
    DATA = [
        Data("text-random", victims=VICTIMS, seq_len=SEQ, vocab_size=1024),
        Data("text-pydoc", victims=VICTIMS, seq_len=SEQ),
    ]

SWEEP = Sweep(
    "text_tag",
    runs=product(
        axis("attack", [Attack("tag", steps=TAG_STEPS), Attack("text_dlg", steps=DLG_STEPS)]),
        axis("data", DATA),
        zip_(
            axis("model", [Model(**MODEL, seed=s) for s in range(SEEDS)]),
            axis("seed", list(range(SEEDS))),
        ),
    ),
    description="TAG (1000 steps) and DLG-text (50 L-BFGS steps) on the untrained causal "
    "transformer3, B = 1, 16 tokens, random tokens and pydoc, 16 sequences x 2 seeds.",
)
