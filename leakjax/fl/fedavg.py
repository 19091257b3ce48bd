"""A small FedAvg simulation to measure a defense's utility and upload cost.

K clients hold non-IID shards of a dataset (per class, client proportions ~ Dirichlet(alpha)).
Every round, every client starts from the server's params, runs ``local_steps`` SGD steps
(``optax.sgd(lr)``) on minibatches drawn with replacement from its own shard, and uploads its
update; the server averages the updates (equal weights) and applies them. All clients run
together under ``jax.vmap``; one round is one compiled function.

Where the defense acts (the same transform objects the attacks face):

* **tier 1** (an ``optax.GradientTransformation``): on the client's update, expressed as its
  mean pseudo-gradient ``u = (theta_before - theta_after) / (lr * local_steps)``; with one local
  step ``u`` is exactly the batch gradient the attacks see, so a defense strength that stops an
  attack on a gradient is applied at the same scale here. The server steps
  ``theta <- theta - lr * local_steps * mean_k(u'_k)``, i.e. plain FedAvg when undefended. The
  defense's state (noise key, error-feedback residual, Outpost's counter) is carried **per
  client** across rounds.
* **tier 2** (``wrap(model, grad_fn)``, e.g. DP-SGD, Soteria, MixUp): on every local gradient.

``defense`` is given as a factory ``defense_fn(key) -> defense`` so that every client gets its
own key (``None`` for no defense). Upload bits are :func:`leakjax.defenses.upload_bits` of each
client's shared update with the given wire format, summed over clients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from leakjax.fl.client import client_gradient, is_tier1
from leakjax.types import Model, PRNGKey


@dataclasses.dataclass
class FedAvgResult:
    """Per-round metrics of a FedAvg run.

    Attributes:
      test_accuracy: ``(rounds + 1,)`` accuracy on the test set, before round 1 and after each.
      upload_bits: ``(rounds,)`` bits uploaded by all clients in each round.
      dense_bits: bits per round if every client sent its update as dense float32.
      params: the final server params.
    """

    test_accuracy: np.ndarray
    upload_bits: np.ndarray
    dense_bits: int
    params: Any


def dirichlet_split(
    labels: np.ndarray, num_clients: int, alpha: float, seed: int = 0, min_size: int = 2
) -> list[np.ndarray]:
    """Indices of each client's shard: per class, proportions ~ Dirichlet(alpha) over clients.

    Redraws (up to 100 times) until every client has at least ``min_size`` examples.
    """
    if num_clients < 1:
        raise ValueError(f"dirichlet_split: num_clients={num_clients!r}, expected >= 1")
    if not alpha > 0:
        raise ValueError(f"dirichlet_split: alpha={alpha!r}, expected > 0")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        shards = [[] for _ in range(num_clients)]
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            p = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(p) * len(idx)).astype(int)[:-1]
            for k, part in enumerate(np.split(idx, cuts)):
                shards[k].extend(part.tolist())
        if min(len(s) for s in shards) >= min_size:
            break
    return [np.sort(np.asarray(s, np.int64)) for s in shards]


def fedavg(
    key: PRNGKey,
    model: Model,
    train_x: jax.Array,
    train_y: jax.Array,
    test_x: jax.Array,
    test_y: jax.Array,
    *,
    defense_fn: Callable[[PRNGKey], Any] | None = None,
    num_clients: int = 10,
    rounds: int = 20,
    local_steps: int = 5,
    batch_size: int = 16,
    lr: float = 0.1,
    dirichlet_alpha: float = 0.5,
    wire: Any = "dense",
    params: Any = None,
    split_seed: int = 0,
) -> FedAvgResult:
    """Run FedAvg with a defense on every client update.

    Args:
      key: PRNG key (minibatches, defense keys).
      model: the shared model.
      train_x, train_y: training images **in the model's input space** and integer labels.
      test_x, test_y: held-out data for the accuracy curve.
      defense_fn: ``key -> defense`` (tier 1 optax transform or tier 2 object), or None.
      num_clients, rounds, local_steps, batch_size, lr: the FedAvg recipe (all clients take part
        every round).
      dirichlet_alpha: non-IID concentration (smaller = more skewed).
      wire: value encoding for the bits count (see :func:`leakjax.defenses.upload_bits`).
      params: initial server params (default ``model.params``).
      split_seed: seed of the Dirichlet split.

    Returns:
      A :class:`FedAvgResult`.
    """
    from leakjax.defenses.comm import dense_bits, upload_bits  # defenses sit above fl

    for name, v in dict(
        num_clients=num_clients, rounds=rounds, local_steps=local_steps, batch_size=batch_size
    ).items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"fedavg: {name}={v!r}, expected a positive integer")
    params = model.params if params is None else params
    shards = dirichlet_split(np.asarray(train_y), num_clients, dirichlet_alpha, split_seed)
    max_len = max(len(s) for s in shards)
    shard_idx = jnp.asarray(np.stack([np.resize(s, max_len) for s in shards]))
    shard_len = jnp.asarray([len(s) for s in shards], jnp.int32)
    train_x = jnp.asarray(train_x)
    train_y = jnp.asarray(train_y)
    grad_fn = client_gradient(model)
    opt = optax.sgd(lr)

    k_def, k_run = jax.random.split(key)
    client_keys = jax.random.split(k_def, num_clients)
    probe = defense_fn(client_keys[0]) if defense_fn is not None else None
    tier1 = probe is not None and is_tier1(probe)
    tier2 = probe is not None and not tier1
    if tier2 and not hasattr(probe, "wrap"):
        raise TypeError(
            f"fedavg: defense_fn returned {probe!r}; expected an optax.GradientTransformation "
            "or a tier-2 defense with .wrap(model, grad_fn)"
        )

    def client_grad(defense):
        if tier2:
            return defense.wrap(model, grad_fn)
        return lambda k, p, x, y: grad_fn(p, x, y)

    if tier1:
        states = jax.vmap(lambda k: defense_fn(k).init(params))(client_keys)
    else:
        states = jnp.zeros((num_clients,))

    def one_client(server, ckey, state, idx, n, rkey):
        defense = defense_fn(ckey) if defense_fn is not None else None
        g_fn = client_grad(defense)

        def step(carry, t):
            p, o = carry
            ks = jax.random.fold_in(rkey, t)
            kb, kd = jax.random.split(ks)
            pos = jax.random.randint(kb, (batch_size,), 0, n)
            b = idx[pos]
            g = g_fn(kd, p, train_x[b], train_y[b])
            upd, o = opt.update(g, o, p)
            return (optax.apply_updates(p, upd), o), None

        (p_after, _), _ = jax.lax.scan(step, (server, opt.init(server)), jnp.arange(local_steps))
        u = jax.tree.map(lambda a, b: (a - b) / (lr * local_steps), server, p_after)
        if tier1:
            u, state = defense.update(u, state, server)
        return u, state, upload_bits(u, wire)

    @jax.jit
    def round_fn(server, states, rkey):
        rkeys = jax.random.split(rkey, num_clients)
        us, states, bits = jax.vmap(one_client, in_axes=(None, 0, 0, 0, 0, 0))(
            server, client_keys, states, shard_idx, shard_len, rkeys
        )
        mean_u = jax.tree.map(lambda u: jnp.mean(u, axis=0), us)
        server = jax.tree.map(lambda p, u: p - lr * local_steps * u, server, mean_u)
        return server, states, jnp.sum(bits)

    @jax.jit
    def accuracy(p):
        logits = model.apply_fn(p, jnp.asarray(test_x))
        return jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(test_y))

    accs = [float(accuracy(params))]
    bits = []
    server = params
    for r in range(rounds):
        server, states, b = round_fn(server, states, jax.random.fold_in(k_run, r))
        accs.append(float(accuracy(server)))
        bits.append(float(b))
    return FedAvgResult(
        test_accuracy=np.asarray(accs),
        upload_bits=np.asarray(bits),
        dense_bits=num_clients * dense_bits(params),
        params=server,
    )
