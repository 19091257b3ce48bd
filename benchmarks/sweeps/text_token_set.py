"""Token-set recovery from the embedding-layer gradient (issue 13's acceptance): precision and
recall at B = 1, 2, 4, undefended, under pruning 90% and under Gaussian noise std 1e-2.

The untrained causal ``transformer3`` over the pydoc BPE tokenizer (1024 tokens), victims of B
sequences of 16 tokens from the private pydoc topics (round-robin over topics), 16 victims x 2
seeds (fresh network per seed). Both rules of ``leakjax.attacks.token_set``: ``exact``
(non-zero table rows, plus negative head-bias entries) and ``robust`` (median + 5 MAD z-score).

    flock -x /tmp/leakjax-cpu.lock leakjax sweep benchmarks/sweeps/text_token_set.py \\
        --store benchmarks/results/text_token_set.sqlite
"""

from leakjax.sweep import Attack, Data, Defense, Model, Sweep, axis, product, zip_

TINY = globals().get("TINY", False)
if TINY:
    MODEL = dict(name="transformer_lm", num_layers=1, d_model=16, num_heads=2, d_ff=32)
    VICTIMS, SEEDS, BATCHES = 1, 1, (1, 2)
    DATA = [Data("text-random", victims=VICTIMS, batch_size=b, seq_len=4, vocab_size=32)
            for b in BATCHES]
else:
    MODEL = dict(name="transformer3")
    VICTIMS, SEEDS, BATCHES = 16, 2, (1, 2, 4)
    DATA = [Data("text-pydoc", victims=VICTIMS, batch_size=b, seq_len=16) for b in BATCHES]

SWEEP = Sweep(
    "text_token_set",
    runs=product(
        axis("attack", [Attack("token_set", rule="exact"), Attack("token_set", rule="robust")]),
        axis("data", DATA),
        axis("defense", [Defense(), Defense("prune=0.9"), Defense("noise_std=0.01")]),
        zip_(
            axis("model", [Model(**MODEL, seed=s) for s in range(SEEDS)]),
            axis("seed", list(range(SEEDS))),
        ),
    ),
    description="Token-set precision / recall on the untrained transformer3 (pydoc, 16 tokens) "
    "at B = 1, 2, 4: undefended, prune 0.9, noise std 1e-2.",
)
