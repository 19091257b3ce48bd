"""The attack driver: ``lax.scan`` over steps, restarts as a batch axis, status per run.

* :func:`run` runs one attack on one observation (restarts as a batch axis, the best chosen by
  matching loss, never by ground truth). It is pure and jittable (``steps``, ``restarts`` and
  ``restart_strategy`` static). Restarts are vmapped on GPU/TPU and ``lax.map``-ped on CPU,
  where XLA executes the vmapped (grouped) convolution gradients of second-order attacks very
  slowly (IG on a ConvNet: 4 vmapped restarts ~20x slower than ``lax.map``; benchmarks/README.md).
* :func:`run_batch` runs many independent (key, observation) pairs, the batch axes of a sweep
  (seeds x victims), as one compiled program, choosing how to batch for the backend:
  ``"vmap"`` (one vectorized program: the right choice on GPU/TPU), ``"map"`` (``lax.map``,
  one compiled loop), or ``"threads"`` (one compiled single run dispatched from one host thread
  per core: measured faster on multi-core CPUs, where XLA vectorizes the batched second-order
  gradients poorly; see benchmarks/README.md). ``"auto"`` picks ``vmap`` on accelerators and
  ``threads`` on CPU.

Each start returns its last iterate, or with ``select="best"`` (an :class:`Attack` field that
``run(select=...)`` overrides) the iterate with the lowest matching loss over all its steps, as
breaching's optimization attacks do; restarts are then compared by those results' matching loss.

A non-finite loss or reconstruction in one run is reported as ``Status.DIVERGED`` in that run's
``AttackResult.status``; it never raises and never touches the other runs of the batch.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from leakjax.attacks.base import SELECT_RULES, Attack
from leakjax.types import AttackResult, Observation, PRNGKey, Status


def _check_positive_int(fn: str, **kw):
    for name, v in kw.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{fn}: {name}={v!r}, expected a positive integer")


def _check_key(fn: str, key):
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            f"{fn}: key={key!r} is not a typed PRNG key; expected jax.random.key(seed) "
            "(legacy uint32 PRNGKey arrays are not accepted)"
        )


def _where_tree(pred, a, b):
    """``a`` where ``pred`` else ``b``, leaf by leaf (typed PRNG keys through their data)."""

    def pick(x, y):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = jnp.where(pred, jax.random.key_data(x), jax.random.key_data(y))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return jnp.where(pred, x, y)

    return jax.tree.map(pick, a, b)


def _score(loss, raw):
    """The matching loss, or +inf when it or the reconstruction is not finite."""
    ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(raw))
    return jnp.where(ok, loss, jnp.inf)


def _single(attack: Attack, key: PRNGKey, obs: Observation, steps: int, select: str = "last"):
    """One start: ``steps`` attack steps in a ``lax.scan``.

    ``select="best"`` also carries the state whose matching loss (the loss each ``step`` reports
    for the state it starts from) is the lowest seen, and returns whichever of that state and
    the final state has the lower matching loss by ``attack.result``.
    """
    state = attack.init(key, obs)
    tol = attack.tol
    keep_best = select == "best"

    def body(carry, _):
        state, done, last, best_state, best_loss = carry
        if attack.early_stop:
            new, loss = lax.cond(done, lambda s: (s, last), lambda s: attack.step(s, obs), state)
        else:
            new, loss = attack.step(state, obs)
        if keep_best:
            better = jnp.isfinite(loss) & (loss < best_loss)
            best_state = _where_tree(better, state, best_state)
            best_loss = jnp.where(better, loss, best_loss).astype(best_loss.dtype)
        done = done | (loss < tol)
        return (new, done, loss, best_state, best_loss), loss

    inf = jnp.full((), jnp.inf, jnp.float32)
    init_carry = (state, jnp.zeros((), bool), inf, state if keep_best else None, inf)
    (state, _, _, best_state, _), trace = lax.scan(body, init_carry, None, length=steps)
    raw, labels, loss = attack.result(state, obs)
    if keep_best:
        raw_b, labels_b, loss_b = attack.result(best_state, obs)
        use_b = _score(loss_b, raw_b) < _score(loss, raw)
        raw, labels, loss = _where_tree(use_b, (raw_b, labels_b, loss_b), (raw, labels, loss))
    return raw, labels, loss, trace


def _check_select(fn: str, select):
    if select not in SELECT_RULES:
        raise ValueError(f"{fn}: select={select!r}, expected one of {SELECT_RULES}")


def run(
    attack: Attack,
    key: PRNGKey,
    obs: Observation,
    *,
    steps: int,
    restarts: int = 1,
    restart_strategy: str = "auto",
    select: str | None = None,
) -> AttackResult:
    """Run ``attack`` for ``steps`` steps from ``restarts`` random starts; keep the best.

    Args:
      attack: from a factory such as :func:`leakjax.attacks.dlg`.
      key: typed PRNG key (``jax.random.key``).
      obs: what the server saw.
      steps: number of attack steps (L-BFGS ``.step`` calls, or optimizer iterations).
      restarts: independent starts run together; the one with the lowest final matching loss
        is returned.
      restart_strategy: how the restarts are batched: ``"vmap"``, ``"map"`` (``lax.map``) or
        ``"auto"`` (``vmap`` on GPU/TPU, ``map`` on CPU). Both give the same result.
      select: which iterate of each restart is its result: ``"last"`` (the final state) or
        ``"best"`` (the iterate with the lowest matching loss over all steps, as breaching
        returns). ``None`` uses the attack's own choice, :attr:`Attack.select`, which follows
        its reference. The restart is then chosen by the matching loss of those results.

    Returns:
      An :class:`AttackResult`; ``inputs`` are in [0, 1] (or, for an attack with a ``decode``,
      what it decodes to: token ids for text attacks).
    """
    _check_positive_int("run", steps=steps, restarts=restarts)
    _check_key("run", key)
    if restart_strategy not in ("auto", "vmap", "map"):
        raise ValueError(
            f"run: restart_strategy={restart_strategy!r}, expected 'auto', 'vmap' or 'map'"
        )
    select = attack.select if select is None else select
    _check_select("run", select)
    if restart_strategy == "auto":
        restart_strategy = "map" if jax.default_backend() == "cpu" else "vmap"
    keys = jax.random.split(key, restarts)
    one = functools.partial(_single, attack, obs=obs, steps=steps, select=select)
    if restarts == 1:
        raw, labels, loss, trace = jax.tree.map(lambda a: a[None], one(keys[0]))
    elif restart_strategy == "map":
        raw, labels, loss, trace = lax.map(one, keys)
    else:
        raw, labels, loss, trace = jax.vmap(one)(keys)
    finite = jnp.isfinite(loss) & jnp.all(jnp.isfinite(raw.reshape(restarts, -1)), axis=1)
    score = jnp.where(finite, loss, jnp.inf)
    best = jnp.argmin(score)
    raw_b, labels_b, loss_b, trace_b = raw[best], labels[best], loss[best], trace[best]
    ok = finite[best]
    status = jnp.where(
        ~ok,
        int(Status.DIVERGED),
        jnp.where(loss_b < attack.tol, int(Status.CONVERGED), int(Status.MAX_STEPS)),
    ).astype(jnp.int32)
    if attack.decode is None:
        inputs = jnp.clip(attack.spec.denormalize(jnp.nan_to_num(raw_b)), 0.0, 1.0)
    else:  # e.g. text: embeddings -> token ids
        inputs = attack.decode(jnp.nan_to_num(raw_b), obs)
    return AttackResult(
        inputs=inputs,
        labels=labels_b,
        loss=loss_b,
        loss_trace=trace_b,
        status=status,
        restart=best.astype(jnp.int32),
        raw_inputs=raw_b,
    )


STRATEGIES = ("auto", "vmap", "map", "threads")


class _AttackThunk:
    """A hashable zero-argument function returning a fixed Attack (cache key = the Attack)."""

    def __init__(self, attack: Attack):
        self.attack = attack

    def __call__(self) -> Attack:
        return self.attack

    def __hash__(self):
        return hash(self.attack)

    def __eq__(self, other):
        return isinstance(other, _AttackThunk) and other.attack == self.attack


def default_strategy(backend: str | None = None) -> str:
    """``vmap`` on GPU/TPU, ``threads`` on CPU (see the module docstring)."""
    backend = backend or jax.default_backend()
    return "threads" if backend == "cpu" else "vmap"


def run_batch(
    attack_fn: Callable[[], Attack] | Attack,
    keys: PRNGKey,
    obs: Observation,
    *,
    steps: int,
    restarts: int = 1,
    obs_axis: int | None = 0,
    strategy: str = "auto",
    num_threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    select: str | None = None,
    shared_params: bool | None = None,
) -> AttackResult:
    """Run independent attacks over a leading batch axis of ``keys`` and ``obs``.

    Args:
      attack_fn: an :class:`Attack`, or a zero-argument function building one (lets a sweep
        rebuild it inside the compiled function).
      keys: typed keys of shape ``(N,)``.
      obs: an Observation whose leaves have a leading axis ``N`` (see
        :func:`leakjax.types.stack_observations`), or, with ``obs_axis=None``, a single
        Observation shared by all keys.
      obs_axis: ``0`` when ``obs`` is stacked, ``None`` when it is shared.
      steps, restarts, select: as in :func:`run`.
      strategy: ``"auto"``, ``"vmap"``, ``"map"`` or ``"threads"``.
      num_threads: threads for ``"threads"`` (default: the number of CPU cores).
      progress: optional callback called with the number of runs finished (threads strategy
        calls it per run; vmap/map once at the end).
      shared_params: whether every run attacks the same model weights (``obs.params`` equal
        along the run axis: restarts, or victims of one model). Then ``vmap`` and ``map`` take
        the weights unbatched: the model's forward pass batches as one ordinary convolution /
        matmul over all runs instead of one per run (same results). ``None`` (default) checks
        a stacked ``obs`` on the host; ``False`` always batches the weights.

    Returns:
      An :class:`AttackResult` whose leaves have a leading axis ``N``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"run_batch: strategy={strategy!r}, expected one of {STRATEGIES}")
    _check_positive_int("run_batch", steps=steps, restarts=restarts)
    _check_key("run_batch", keys)
    if select is not None:
        _check_select("run_batch", select)
    if keys.ndim != 1:
        raise ValueError(f"run_batch: keys has shape {keys.shape}, expected (N,)")
    n = keys.shape[0]
    get_attack = _AttackThunk(attack_fn) if isinstance(attack_fn, Attack) else attack_fn
    if obs_axis not in (0, None):
        raise ValueError(f"run_batch: obs_axis={obs_axis!r}, expected 0 or None")
    batched_obs = obs_axis == 0
    if batched_obs:
        for leaf in jax.tree.leaves(obs):
            if jnp.ndim(leaf) < 1 or jnp.shape(leaf)[0] != n:
                raise ValueError(
                    f"run_batch: obs has a leaf of shape {jnp.shape(leaf)}, expected a leading "
                    f"axis of {n} (one per key); pass obs_axis=None to share one observation"
                )
    shared = False
    if batched_obs and shared_params is not False:
        shared = params_shared(obs) if shared_params is None else True
    strategy = default_strategy() if strategy == "auto" else strategy
    shared = shared and strategy in ("vmap", "map")
    try:
        program = _compiled_program(get_attack, steps, restarts, strategy, obs_axis, select, shared)
    except TypeError:  # an unhashable attack (e.g. array-valued fields): build uncached
        program = _compiled_program.__wrapped__(
            get_attack, steps, restarts, strategy, obs_axis, select, shared
        )

    if strategy in ("vmap", "map"):
        if shared:
            out = program(keys, obs.replace(params=None), jax.tree.map(lambda a: a[0], obs.params))
        else:
            out = program(keys, obs)
        if progress:
            progress(n)
        return out
    # threads: one compiled single run, dispatched from several host threads
    num_threads = num_threads or os.cpu_count() or 1

    def item(i):
        o = jax.tree.map(lambda x: x[i], obs) if batched_obs else obs
        r = program(keys[i], o)
        jax.block_until_ready(r)
        if progress:
            progress(1)
        return r

    first = item(0)  # compile outside the pool
    if n == 1:
        results = [first]
    else:
        with ThreadPoolExecutor(max_workers=num_threads) as pool:
            results = [first, *pool.map(item, range(1, n))]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *results)


def params_shared(obs: Observation) -> bool:
    """Whether a stacked observation's ``params`` are the same for every run (host check; a
    traced ``obs`` counts as not shared)."""
    try:
        leaves = [np.asarray(a) for a in jax.tree.leaves(obs.params)]
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return False
    return all(a.shape[0] >= 1 and bool(np.all(a == a[:1])) for a in leaves)


@functools.lru_cache(maxsize=64)
def _compiled_program(
    get_attack,
    steps: int,
    restarts: int,
    strategy: str,
    obs_axis,
    select: str | None = None,
    shared: bool = False,
):
    """One jitted program per (attack, steps, restarts, strategy, obs_axis, select, shared).

    Attacks are hashable (NamedTuples of functions and frozen specs), so calling ``run_batch``
    again with the same attack, e.g. chunk after chunk of a sweep, never recompiles. With
    ``shared`` the program is ``program(keys, obs_without_params, params)``: the weights are one
    unbatched argument.
    """

    def one(k, o):
        return run(get_attack(), k, o, steps=steps, restarts=restarts, select=select)

    if shared:

        def one_shared(k, o, p):
            return one(k, o.replace(params=p))

        if strategy == "vmap":
            return jax.jit(jax.vmap(one_shared, in_axes=(0, 0, None)))
        return jax.jit(lambda ks, os_, p: lax.map(lambda a: one_shared(a[0], a[1], p), (ks, os_)))

    if strategy == "vmap":
        return jax.jit(jax.vmap(one, in_axes=(0, obs_axis)))
    if strategy == "map":
        if obs_axis == 0:
            return jax.jit(lambda ks, os_: lax.map(lambda a: one(*a), (ks, os_)))
        return jax.jit(lambda ks, o: lax.map(lambda k: one(k, o), ks))
    return jax.jit(one)
