"""Text attacks against defenses: {TAG, DLG-text, token-set} x {noise, pruning, DGP, DP-SGD}.

The untrained causal ``transformer3`` (breaching's TAG model: 3 post-LN blocks, d 96, 8 heads,
feed-forward 1536, learnable positions, untied head) over the pydoc BPE tokenizer (1024 tokens,
trained on the public topics), victims of B = 1 sequence of 16 tokens from the private pydoc
topics (round-robin over topics). TAG: breaching's settings, 1000 steps. DLG-text: torch-style
L-BFGS (lr 1, 20 evaluations per step), 50 steps (~1000 objective evaluations, TAG's budget).
Token-set recovery: the exact (non-zero rows) and the robust (z-score) rules. Every tier-1
defense and DP-SGD act on the text client unchanged (``leakjax.fl.observe_text``). DP-SGD's
epsilon (one round, delta 1e-5) is in the rows.

    flock -x /tmp/leakjax-cpu.lock leakjax sweep benchmarks/sweeps/text_defenses.py \\
        --store benchmarks/results/text_defenses.sqlite

With ``TINY`` set (tests): a 1-layer LM, vocabulary 32, 4-token random sequences, 1 victim, 2
steps.
"""

from leakjax.sweep import Attack, Data, Defense, Model, Sweep, axis, product, seeds

TINY = globals().get("TINY", False)
if TINY:
    MODEL = Model("transformer_lm", num_layers=1, d_model=16, num_heads=2, d_ff=32)
    DATA = Data("text-random", victims=1, seq_len=4, vocab_size=32)
    TAG_STEPS, DLG_STEPS, SEEDS = 2, 1, 1
else:
    MODEL = Model("transformer3")
    DATA = Data("text-pydoc", victims=8, seq_len=16)
    TAG_STEPS, DLG_STEPS, SEEDS = 1000, 50, 1

DEFENSES = [
    Defense(),
    *Defense.grid("noise_std", [1e-3, 1e-2]),
    *Defense.grid("prune", [0.5, 0.9]),
    Defense("dgp"),
    Defense("dpsgd=1.0:0.1"),
    Defense("dpsgd=1.0:1.0"),
]

SWEEP = Sweep(
    "text_defenses",
    runs=product(
        axis(
            "attack",
            [
                Attack("tag", steps=TAG_STEPS),
                Attack("text_dlg", steps=DLG_STEPS),
                Attack("token_set", rule="exact"),
                Attack("token_set", rule="robust"),
            ],
        ),
        axis("model", [MODEL]),
        axis("data", [DATA]),
        axis("defense", DEFENSES),
        seeds(SEEDS),
    ),
    description="TAG, DLG-text and token-set recovery on the untrained transformer3 (pydoc, "
    "16 tokens, B = 1) under noise, pruning, DGP and DP-SGD.",
)
