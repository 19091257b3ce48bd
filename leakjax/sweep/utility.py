"""Utility runs of a sweep: FedAvg test accuracy, upload bits and DP epsilon for one defense.

The clients train with :func:`leakjax.fl.fedavg` (the same client code and defense objects the
attacks face). Data: the embedded dataset's ``train_split`` is spread over the clients
(Dirichlet non-IID), accuracy is measured on ``test_split``; images are normalized with the
dataset's mean/std. DP-SGD's epsilon uses sampling rate ``recipe.batch_size / shard`` with the
mean shard size ``N_train / clients`` and ``rounds * local steps`` steps, delta 1e-5 (an
approximation: minibatches are drawn with replacement, not by Poisson sampling).
"""

from __future__ import annotations

import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.sweep.identity import canonical_json


def run_utility(u, env_id: str) -> dict:
    """Run one :class:`~leakjax.sweep.spec.Utility` and return its store row."""
    spec = u.spec
    row = dict(
        run_id=u.run_id,
        kind="utility",
        config=canonical_json(u.config),
        model=spec.model.name,
        data=spec.data,
        defense=spec.defense.spec,
        placement=spec.defense.placement,
        seed=spec.seed,
        env_id=env_id,
    )
    from leakjax.defenses.spec import defense_numbers

    row["defense_kind"] = defense_numbers(spec.defense.spec)[0]
    t0 = time.perf_counter()
    try:
        row.update(_fedavg_row(spec))
        row["status"] = "converged"
    except Exception as e:  # noqa: BLE001 - one failed utility run must not stop the sweep
        row["status"] = "failed"
        row["metrics"] = dict(error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    row["seconds"] = time.perf_counter() - t0
    return row


def _fedavg_row(spec) -> dict:
    from leakjax import data, fl
    from leakjax.defenses import dp_epsilon, parse_defense, spec_wire_format
    from leakjax.sweep.build import build_model

    train = data.load(spec.data, split=spec.train_split)
    test = data.load(spec.data, split=spec.test_split)
    ds = train.spec
    model_cfg = dict(
        name=spec.model.name,
        seed=spec.model.seed,
        init=spec.model.init,
        kwargs=dict(spec.model.kwargs),
        state="untrained",
        train_steps=0,
    )
    model, _ = build_model(model_cfg, ds.image_shape, ds.num_classes)
    defense = parse_defense(spec.defense.spec, 0)[0]
    recipe = spec.recipe
    if spec.defense.placement is not None:
        recipe = recipe.replace(defense_placement=spec.defense.placement)
    result = fl.fedavg(
        jax.random.key(1 + spec.seed),
        model,
        ds.normalize(jnp.asarray(train.images)),
        jnp.asarray(train.labels),
        ds.normalize(jnp.asarray(test.images)),
        jnp.asarray(test.labels),
        defense=defense,
        num_clients=spec.clients,
        rounds=spec.rounds,
        recipe=recipe,
        samples_per_round=spec.samples_per_round,
        dirichlet_alpha=spec.dirichlet_alpha,
        wire=spec_wire_format(spec.defense.spec),
        split_seed=spec.seed,
        # GradDefense's server-side spectral filter when the spec asks for it
        server_compensation="graddefense_comp" in spec.defense.spec,
    )
    acc = np.asarray(result.test_accuracy)
    bits = np.asarray(result.upload_bits)
    out = dict(
        accuracy=float(acc[-1]),
        upload_bits=float(np.mean(bits)),
        metrics=dict(
            accuracy_curve=acc.tolist(),
            round_seconds=np.asarray(result.seconds).tolist(),
            upload_bits_per_round=bits.tolist(),
            dense_bits_per_round=int(result.dense_bits),
            best_accuracy=float(acc.max()),
        ),
    )
    if "dpsgd=" in spec.defense.spec:
        from leakjax.defenses.spec import _items

        sigma = next(
            float(v.split(":")[1]) for n, v, _ in _items(spec.defense.spec) if n == "dpsgd"
        )
        shard = len(train) / spec.clients
        q = min(1.0, recipe.batch_size / shard)
        steps = spec.rounds * recipe.num_steps(spec.samples_per_round)
        out["delta"] = 1e-5
        out["epsilon"] = dp_epsilon(sigma, q, steps, 1e-5) if sigma > 0 else float("inf")
        out["metrics"]["dp"] = dict(sample_rate=q, steps=steps, noise_multiplier=sigma)
    return out
