"""Executing a sweep: compiled groups, memory-bounded chunks, backends, devices, processes.

For each group of a :class:`~leakjax.sweep.plan.Plan` the run program
(:func:`leakjax.sweep.build.build_group`) is compiled once, ahead of time, and the group's
pending runs are executed chunk by chunk:

* ``strategy="threads"`` (the default on CPU): the single-run program is dispatched from one
  host thread per core (XLA:CPU runs batched second-order convolution gradients poorly, so this
  measured faster than ``vmap`` there; ``benchmarks/README.md``). Each run's ``seconds`` is its
  own call's wall time.
* ``strategy="vmap"`` (the default on GPU/TPU): the chunk is one vectorized program over the
  run axis. With several local devices that axis is sharded over them
  (``jax.sharding.NamedSharding`` on a one-axis mesh); chunks are padded to a multiple of the
  device count. ``seconds`` is the chunk's wall time divided by its runs (recorded as such).

Chunk sizes come from XLA's compiled memory analysis of the single-run program: a chunk holds at
most ``memory_bytes / bytes_per_run`` runs (``memory_bytes`` defaults to 70% of the device's
memory limit on accelerators, 25% of the host's RAM on CPU) and at most ``max_chunk``.

After every chunk, the metrics are computed (:func:`leakjax.sweep.build.image_metrics`, on
[0, 1] images and in normalized space, Hungarian-matched for B > 1) and the chunk is committed to
the store in one transaction. A killed sweep resumes where it stopped, redoing at most the
chunks that were running; a run whose loss or reconstruction is non-finite is stored with status
``diverged`` and never touches the other runs of its chunk; a group whose program cannot be
built or compiled stores its runs as ``failed`` (with the error) and the sweep goes on.

Past one machine, the sweep runs as a multi-process JAX job (``jax.distributed.initialize``,
set up by SLURM or a TPU pod, or by hand): every process plans the same runs (process 0 reads
the store and broadcasts which runs are pending), takes a disjoint, round-robin share of each
group's chunks, and the chunk results are gathered to process 0, which alone writes the store.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

from leakjax.sweep import build
from leakjax.sweep.environment import environment, environment_id
from leakjax.sweep.plan import Plan, make_plan
from leakjax.sweep.spec import Sweep
from leakjax.sweep.store import Store
from leakjax.types import status_name

STRATEGIES = ("auto", "threads", "vmap")


class ChunkInterrupted(KeyboardInterrupt):
    """Ctrl-C inside a threaded chunk: ``done`` lists ``(index in the chunk, output)`` of the
    runs that had finished."""

    def __init__(self, done: list):
        super().__init__(f"interrupted with {len(done)} finished run(s) in the chunk")
        self.done = done


class _GroupInterrupted(KeyboardInterrupt):
    """Ctrl-C inside a group, after ``written`` of its runs were committed."""

    def __init__(self, written: int):
        super().__init__(f"interrupted after {written} run(s) of the group were committed")
        self.written = written


class SweepInterrupted(KeyboardInterrupt):
    """Raised on Ctrl-C: ``written`` runs were committed; the same command resumes."""

    def __init__(self, written: int, store: str):
        super().__init__(f"interrupted: {written} run(s) kept in {store}")
        self.written = written
        self.store = store


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_sweep` did."""

    store: str
    total: int
    already_done: int
    written: int
    failed: int
    diverged: int
    seconds: float
    groups: int


def default_strategy() -> str:
    return "threads" if jax.default_backend() == "cpu" else "vmap"


def default_memory_bytes() -> int:
    dev = jax.local_devices()[0]
    try:
        stats = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 - not every backend implements memory_stats
        stats = {}
    if stats.get("bytes_limit"):
        return int(0.7 * stats["bytes_limit"])
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        pages = 8 * 2**30
    return int(0.25 * pages)


def _bytes(mem) -> int:
    if mem is None:
        return 0
    total = 0
    for name in ("temp_size_in_bytes", "argument_size_in_bytes", "output_size_in_bytes"):
        total += int(getattr(mem, name, 0) or 0)
    return total


# --------------------------------------------------------------------------------------------
# per-run inputs
# --------------------------------------------------------------------------------------------


def run_key(seed: int, victim: int):
    """The run's key: ``fold_in(key(seed), victim)``; the client's and the attack's keys are
    derived from it (so a defense's noise differs per victim and seed, and runs that differ only
    in defense strength share their random draws)."""
    return jax.random.fold_in(jax.random.key(int(seed)), int(victim))


def _run_args(group: build.Group, run):
    x = group.victims.images[run.victim]
    y = group.victims.labels[run.victim]
    anum = {k: np.float32(run.attack_numbers[k]) for k in group.attack_numbers}
    dnum = np.asarray(run.defense_numbers, np.float32)
    return run_key(run.seed, run.victim), x, y, anum, dnum


def _stack_args(group, runs):
    args = [_run_args(group, r) for r in runs]
    keys = jnp.stack([a[0] for a in args])
    x = np.stack([a[1] for a in args])
    y = np.stack([a[2] for a in args])
    anum = {k: np.stack([a[3][k] for a in args]) for k in group.attack_numbers}
    dnum = np.stack([a[4] for a in args])
    return keys, x, y, anum, dnum


# --------------------------------------------------------------------------------------------
# one group
# --------------------------------------------------------------------------------------------


class _GroupRunner:
    """Compiles one group and runs its chunks (on this process's local devices)."""

    def __init__(
        self, group: build.Group, strategy: str, num_threads: int, memory_bytes: int, max_chunk: int
    ):
        self.group = group
        self.strategy = strategy
        self.num_threads = num_threads
        self.devices = jax.local_devices()
        t0 = time.perf_counter()
        one = _run_args(group, _FirstRun(group))
        self.single = jax.jit(group.program).lower(*one).compile()
        self.compile_seconds = time.perf_counter() - t0
        self.bytes_per_run = max(_bytes(self._memory(self.single)), 1)
        if strategy == "threads":
            by_memory = max(1, memory_bytes // self.bytes_per_run)
            self.chunk_size = int(max(1, min(max_chunk, 4 * num_threads, by_memory)))
            self.vector = None
        else:
            n_dev = len(self.devices)
            by_memory = max(1, memory_bytes * n_dev // self.bytes_per_run)
            c = int(max(1, min(max_chunk, by_memory)))
            self.chunk_size = max(n_dev, (c // n_dev) * n_dev)
            self.vector = None  # compiled lazily at the first chunk (its size is known then)

    @staticmethod
    def _memory(compiled):
        try:
            return compiled.memory_analysis()
        except Exception:  # noqa: BLE001 - some backends do not implement it
            return None

    def _vector_program(self, n: int):
        vprog = jax.vmap(self.group.program)
        if len(self.devices) > 1:
            from jax.sharding import Mesh, NamedSharding, PartitionSpec

            mesh = Mesh(np.asarray(self.devices), ("runs",))
            sharding = NamedSharding(mesh, PartitionSpec("runs"))
            fn = jax.jit(vprog, in_shardings=sharding, out_shardings=sharding)
            self.sharding = sharding
        else:
            fn = jax.jit(vprog)
            self.sharding = None
        return fn

    def run_chunk(self, runs, on_run=None) -> dict:
        """Outputs of ``runs`` as host arrays with a leading run axis, plus ``seconds``."""
        if self.strategy == "threads":
            return self._threads(runs, on_run)
        return self._vmap(runs, on_run)

    def _threads(self, runs, on_run):
        def one(r):
            args = _run_args(self.group, r)
            t0 = time.perf_counter()
            out = self.single(*args)
            out = jax.tree.map(np.asarray, jax.block_until_ready(out))
            out["seconds"] = np.float64(time.perf_counter() - t0)
            if on_run:
                on_run(1)
            return out

        if self.num_threads <= 1 or len(runs) == 1:
            outs = []
            try:
                for r in runs:
                    outs.append(one(r))
            except KeyboardInterrupt:
                raise ChunkInterrupted(list(enumerate(outs))) from None
        else:
            pool = ThreadPoolExecutor(max_workers=self.num_threads)
            futures = [pool.submit(one, r) for r in runs]
            try:
                outs = [f.result() for f in futures]
            except KeyboardInterrupt:
                # Ctrl-C: drop the runs not started, keep the finished ones (the caller stores
                # them); the running ones finish in the background
                pool.shutdown(wait=False, cancel_futures=True)
                done = [
                    (i, f.result())
                    for i, f in enumerate(futures)
                    if f.done() and not f.cancelled() and f.exception() is None
                ]
                raise ChunkInterrupted(done) from None
            pool.shutdown()
        return {k: np.stack([o[k] for o in outs]) for k in outs[0]}

    def _vmap(self, runs, on_run):
        n = len(runs)
        size = self.chunk_size
        padded = list(runs) + [runs[-1]] * (size - n)
        if self.vector is None:
            self.vector = self._vector_program(size)
        args = _stack_args(self.group, padded)
        if self.sharding is not None:
            args = jax.device_put(args, self.sharding)
        t0 = time.perf_counter()
        out = jax.tree.map(np.asarray, jax.block_until_ready(self.vector(*args)))
        dt = time.perf_counter() - t0
        out = {k: v[:n] for k, v in out.items()}
        out["seconds"] = np.full((n,), dt / n)
        if on_run:
            on_run(n)
        return out


class _FirstRun:
    """The shape-defining first run of a group (victim 0, seed 0, its numbers)."""

    def __init__(self, group: build.Group):
        from leakjax.sweep.build import attack_numbers, defense_numbers_of

        self.victim = 0
        self.seed = 0
        self.attack_numbers = attack_numbers(group.config)
        self.defense_numbers = defense_numbers_of(group.config)


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------


def _epsilon(config: dict) -> tuple[float | None, float | None, dict]:
    """DP-SGD's (epsilon, delta) for one client round: sampling rate = local batch / client
    samples, steps = local steps (1 for FedSGD), delta = 1e-5, RDP accountant."""
    spec = config["defense"]["spec"]
    if "dpsgd=" not in spec:
        return None, None, {}
    from leakjax.defenses import dp_epsilon
    from leakjax.defenses.spec import _items

    sigma = None
    for name, value, _ in _items(spec):
        if name == "dpsgd":
            sigma = float(value.split(":")[1])
    n = int(config["data"]["batch_size"])
    r = config["threat"].get("recipe")
    if r:
        from leakjax.fl.local import LocalRecipe

        rec = LocalRecipe(**r)
        q, steps = min(rec.batch_size, n) / n, rec.num_steps(n)
    else:
        q, steps = 1.0, 1
    delta = 1e-5
    if not sigma or sigma <= 0:
        return float("inf"), delta, dict(sample_rate=q, steps=steps, noise_multiplier=sigma)
    eps = dp_epsilon(sigma, q, steps, delta)
    return eps, delta, dict(sample_rate=q, steps=steps, noise_multiplier=sigma)


def _rows_for_chunk(group: build.Group, runs, out: dict, env_id: str, chunk_id: str, extra: dict):
    if getattr(group, "text", False):  # text runs: leakjax.sweep.text
        from leakjax.sweep.text import text_rows_for_chunk

        return text_rows_for_chunk(group, runs, out, env_id, chunk_id, extra)
    truth = group.victims.images[[r.victim for r in runs]]
    recon = out["inputs"]
    pad = int(extra.get("chunk_size", len(runs)))  # one compiled metric program per group
    mets = build.image_metrics(recon, truth, group.victims.spec, pad_to=pad)
    matched = np.stack([recon[i][mets["perm"][i]] for i in range(len(runs))])
    lp = build.lpips_metrics(matched, truth, pad_to=pad)
    rows, blobs = [], []
    cfg0 = group.config
    eps, delta, eps_info = _epsilon(cfg0)
    for i, r in enumerate(runs):
        status = status_name(int(out["status"][i]))
        true_labels = group.victims.labels[r.victim]
        per_image = {
            k: mets[k][i].tolist() for k in ("mse", "psnr", "ssim", "mse_norm", "psnr_norm")
        }
        loss = float(out["loss"][i])
        metrics = dict(
            per_image=per_image,
            perm=mets["perm"][i].tolist(),
            labels_pred=out["labels"][i].tolist(),
            labels_true=true_labels.tolist(),
            restart=int(out["restart"][i]),
            steps=group.steps,
            restarts=group.restarts,
            lpips_vgg=_item(lp["values"]["vgg"], i),
            lpips_alex=_item(lp["values"]["alex"], i),
            **({"lpips_notes": lp["notes"]} if lp["notes"] else {}),
            **({"model_state": group.model_info} if group.model_info else {}),
            **extra,
        )
        if eps_info:
            metrics["dp"] = eps_info
        rows.append(
            dict(
                **run_columns(r),
                status=status,
                loss=loss if math.isfinite(loss) else None,
                mse=float(np.mean(mets["mse"][i])),
                psnr=float(np.mean(mets["psnr"][i])),
                ssim=float(np.mean(mets["ssim"][i])),
                mse_norm=float(np.mean(mets["mse_norm"][i])),
                psnr_norm=float(np.mean(mets["psnr_norm"][i])),
                lpips=_item(lp["values"]["vgg"], i),
                label_acc=build.label_accuracy(out["labels"][i], true_labels),
                upload_bits=float(out["bits"][i]),
                epsilon=eps,
                delta=delta,
                accuracy=group.model_info.get("model_accuracy"),
                seconds=float(out["seconds"][i]),
                metrics=metrics,
                victims=group.victims.info[r.victim],
                env_id=env_id,
                chunk=chunk_id,
            )
        )
        blobs.append((r.run_id, "reconstruction", recon[i].astype(np.float16)))
        blobs.append((r.run_id, "truth", truth[i].astype(np.float16)))
    return rows, blobs


def run_columns(r) -> dict:
    """The columns that identify an attack run in the store (its config and the axes a table
    groups by), the same for finished, failed and text rows."""
    c = r.config
    return dict(
        run_id=r.run_id,
        kind="attack",
        config=_json(c),
        attack=c["attack"]["name"],
        model=c["model"]["name"],
        data=c["data"]["name"],
        defense=c["defense"]["spec"],
        defense_kind=_kind(c["defense"]["spec"]),
        placement=c["defense"]["placement"],
        threat=_json(c["threat"]),
        seed=r.seed,
        victim=r.victim,
        batch_size=int(c["data"]["batch_size"]),
    )


def _item(values, i):
    return None if values is None else float(values[i])


def _failed_rows(runs, error: str, env_id: str):
    rows = []
    for r in runs:
        rows.append(
            dict(
                **run_columns(r),
                status="failed",
                metrics=dict(error=error),
                env_id=env_id,
            )
        )
    return rows


def _kind(spec: str) -> str:
    from leakjax.defenses.spec import defense_numbers

    return defense_numbers(spec)[0]


def _json(obj) -> str:
    from leakjax.sweep.identity import canonical_json

    return canonical_json(obj)


# --------------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------------


def _progress(total: int, desc: str, enabled: bool, done: int = 0):
    """The bar counts every run of the sweep (``done`` of them already in the store)."""
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total + done,
        initial=done,
        desc=desc,
        unit="run",
        dynamic_ncols=True,
        file=sys.stderr,
    )


def _broadcast_pending(plan: Plan, is_main: bool) -> Plan:
    """Multi-process: every process keeps exactly the runs process 0 found pending."""
    if jax.process_count() == 1:
        return plan
    from jax.experimental import multihost_utils

    ids = [r.run_id for r in plan.runs] + [u.run_id for u in plan.utility]
    pending = {r.run_id for g in plan.groups for r in g.runs} | {u.run_id for u in plan.utility}
    mask = np.asarray([rid in pending for rid in ids], np.uint8)
    mask = np.asarray(multihost_utils.broadcast_one_to_all(mask))
    keep = {rid for rid, m in zip(ids, mask) if m}
    for g in plan.groups:
        g.runs = [r for r in g.runs if r.run_id in keep]
    plan.groups = [g for g in plan.groups if g.runs]
    plan.utility = [u for u in plan.utility if u.run_id in keep]
    return plan


def run_sweep(
    sweep: Sweep,
    store: str,
    *,
    strategy: str = "auto",
    num_threads: int | None = None,
    memory_bytes: int | None = None,
    max_chunk: int = 256,
    rerun_failed: bool = False,
    progress: bool = True,
    source: str | None = None,
    log=None,
    on_group_error: str = "store",
) -> SweepResult:
    """Run every pending run of ``sweep`` and store it in ``store`` (an SQLite path).

    Args:
      sweep: the declaration.
      store: path of the store (created if missing; finished runs in it are not redone).
      strategy: ``"auto"`` (threads on CPU, vmap on GPU/TPU), ``"threads"`` or ``"vmap"``.
      num_threads: host threads for ``"threads"`` (default: CPU cores).
      memory_bytes: memory bound of a chunk (default: see the module docstring).
      max_chunk: at most this many runs per chunk.
      rerun_failed: also run again the stored runs that diverged or failed.
      progress: show a progress bar (runs done / total, current group, ETA) on stderr.
      source: the sweep file's text, kept in the store with the sweep.
      log: optional ``log(message)`` for one-line notes (group compiled, chunk sizes).
      on_group_error: ``"store"`` (a group whose program cannot be built or traced stores its
        runs as ``failed`` and the sweep goes on) or ``"raise"`` (the error propagates, nothing
        is stored for that group: the CLI's single-cell sweeps report it as a usage error).

    Raises:
      SweepError, StoreError: a bad declaration or store, before anything compiles.
      SweepInterrupted: on Ctrl-C (the committed chunks are kept).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"run_sweep: strategy={strategy!r}, expected one of {STRATEGIES}")
    if on_group_error not in ("store", "raise"):
        raise ValueError(f"run_sweep: on_group_error={on_group_error!r}, expected 'store' or 'raise'")
    strategy = default_strategy() if strategy == "auto" else strategy
    num_threads = num_threads or os.cpu_count() or 1
    memory_bytes = memory_bytes or default_memory_bytes()
    is_main = jax.process_index() == 0
    nproc, pid = jax.process_count(), jax.process_index()
    t_start = time.perf_counter()
    db = Store(store) if is_main else None
    try:
        statuses = db.statuses() if db else {}
        plan = make_plan(sweep, statuses, rerun_failed=rerun_failed)
        plan = _broadcast_pending(plan, is_main)
        env = environment()
        env_id = environment_id(env)
        if db:
            db.put_environment(env_id, env)
            db.put_sweep(sweep.name, _sweep_summary(sweep), source)
            db.add_members(sweep.name, plan.done)
        bar = _progress(plan.pending, sweep.name, progress and is_main, done=len(plan.done))
        written = failed = diverged = 0
        try:
            for g in plan.groups:
                if bar:
                    bar.set_postfix_str(g.label[:60])
                w, f, d = _run_group(
                    g,
                    strategy,
                    num_threads,
                    memory_bytes,
                    max_chunk,
                    db,
                    sweep.name,
                    env_id,
                    bar,
                    log,
                    nproc,
                    pid,
                    on_group_error,
                )
                written, failed, diverged = written + w, failed + f, diverged + d
            for u in plan.utility:
                if bar:
                    bar.set_postfix_str(f"utility {u.spec.defense.spec}")
                if is_main:  # utility runs are one program each; process 0 runs them
                    from leakjax.sweep.utility import run_utility

                    row = run_utility(u, env_id)
                    db.write_chunk(sweep.name, [row])
                    written += 1
                    failed += row["status"] == "failed"
                if bar:
                    bar.update(1)
        except KeyboardInterrupt as e:
            if bar:
                bar.close()
            written += getattr(e, "written", 0)  # runs the interrupted group committed
            raise SweepInterrupted(written, store) from None
        except BaseException:
            if bar:
                bar.close()  # an error message never follows a half-drawn bar
            raise
        if bar:
            bar.close()
        return SweepResult(
            store=store,
            total=plan.total,
            already_done=len(plan.done),
            written=written,
            failed=failed,
            diverged=diverged,
            seconds=time.perf_counter() - t_start,
            groups=len(plan.groups),
        )
    finally:
        if db:
            db.close()


def estimate_plan(
    plan: Plan,
    *,
    strategy: str = "auto",
    num_threads: int | None = None,
    memory_bytes: int | None = None,
    max_chunk: int = 256,
) -> dict:
    """Compile each pending group of ``plan`` (nothing runs) and return, per group key,
    ``{"chunks", "chunk_size", "bytes_per_run", "strategy", "compile_seconds"}`` for
    :meth:`Plan.describe` (``leakjax sweep --dry-run``); a group that cannot be built maps to
    ``{"error": message}``."""
    strategy = default_strategy() if strategy == "auto" else strategy
    num_threads = num_threads or os.cpu_count() or 1
    memory_bytes = memory_bytes or default_memory_bytes()
    out = {}
    for g in plan.groups:
        try:
            group = build.build_group(g.key, g.config, g.num_victims)
            runner = _GroupRunner(group, strategy, num_threads, memory_bytes, max_chunk)
        except Exception as e:  # noqa: BLE001 - reported in the plan
            out[g.key] = {"error": f"{type(e).__name__}: {e}"}
            continue
        out[g.key] = dict(
            chunks=math.ceil(len(g.runs) / runner.chunk_size),
            chunk_size=runner.chunk_size,
            bytes_per_run=runner.bytes_per_run,
            strategy=strategy,
            compile_seconds=runner.compile_seconds,
        )
    return out


def _sweep_summary(sweep: Sweep) -> dict:
    from leakjax.sweep.identity import run_config

    cells = sweep.cells()
    return dict(
        name=sweep.name,
        description=sweep.description,
        cells=[dict(run_config(c, 0), victims=c["data"].victims) for c in cells],
        utility=len(sweep.utility),
    )


_RUNNERS: dict = {}
_RUNNER_CACHE_SIZE = 8


def _cached_runner(g, strategy, num_threads, memory_bytes, max_chunk):
    """A compiled group, reused by later ``run_sweep`` calls in the same process (a rerun, a
    notebook cell run twice, a benchmark's warm repeat) instead of being built and compiled
    again. Keyed by the group's content key and everything that shapes its program."""
    key = (g.key, g.num_victims, strategy, num_threads, memory_bytes, max_chunk)
    runner = _RUNNERS.pop(key, None)
    if runner is None:
        group = build.build_group(g.key, g.config, g.num_victims)
        runner = _GroupRunner(group, strategy, num_threads, memory_bytes, max_chunk)
    _RUNNERS[key] = runner
    while len(_RUNNERS) > _RUNNER_CACHE_SIZE:
        _RUNNERS.pop(next(iter(_RUNNERS)))
    return runner


def _run_group(
    g,
    strategy,
    num_threads,
    memory_bytes,
    max_chunk,
    db,
    sweep_name,
    env_id,
    bar,
    log,
    nproc,
    pid,
    on_group_error="store",
):
    written = failed = diverged = 0
    session = f"{int(time.time())}-{os.getpid()}"  # chunk ids stay unique across resumes
    try:
        runner = _cached_runner(g, strategy, num_threads, memory_bytes, max_chunk)
        group = runner.group
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one broken group must not stop the sweep
        if on_group_error == "raise":
            raise
        err = f"{type(e).__name__}: {e}"
        if log:
            log(f"group {g.key} failed to build: {err}")
        if db:
            db.write_chunk(
                sweep_name, _failed_rows(g.runs, err + "\n" + traceback.format_exc(), env_id)
            )
        if bar:
            bar.update(len(g.runs))
        return 0, len(g.runs), 0
    if log:
        log(
            f"group {g.key}: compiled in {runner.compile_seconds:.1f}s, "
            f"{runner.bytes_per_run / 2**20:.1f} MiB per run, chunks of {runner.chunk_size} "
            f"({strategy})"
        )
    chunks = [g.runs[i : i + runner.chunk_size] for i in range(0, len(g.runs), runner.chunk_size)]
    extra = dict(
        compile_seconds=runner.compile_seconds,
        strategy=strategy,
        chunk_size=runner.chunk_size,
        bytes_per_run=runner.bytes_per_run,
    )
    on_run = bar.update if (bar and nproc == 1) else None
    for r0 in range(0, len(chunks), nproc):
        mine = chunks[r0 + pid] if r0 + pid < len(chunks) else None
        todo = mine if mine is not None else chunks[r0]  # a dummy chunk keeps processes in step
        try:
            out = runner.run_chunk(todo, on_run if mine is not None else None)
            ok = True
        except ChunkInterrupted as e:
            # Ctrl-C: commit the runs of this chunk that had finished (one process only)
            if db is not None and nproc == 1 and e.done:
                runs = [todo[i] for i, _ in e.done]
                o = {k: np.stack([d[k] for _, d in e.done]) for k in e.done[0][1]}
                chunk_id = f"{g.key}:{session}:{r0}:interrupted"
                rows, blobs = _rows_for_chunk(group, runs, o, env_id, chunk_id, extra)
                db.write_chunk(sweep_name, rows, blobs)
                written += len(rows)
            raise _GroupInterrupted(written) from None
        except KeyboardInterrupt:
            raise _GroupInterrupted(written) from None
        except Exception as e:  # noqa: BLE001
            out, ok = {"error": f"{type(e).__name__}: {e}"}, False
        if nproc > 1:
            gathered = _gather(out, ok, runner.chunk_size, len(todo))
        else:
            gathered = [(out, ok)]
        if db is None:
            continue
        for j, (o, o_ok) in enumerate(gathered):
            idx = r0 + j
            if idx >= len(chunks):
                continue
            runs = chunks[idx]
            chunk_id = f"{g.key}:{session}:{idx}"
            if o_ok:
                rows, blobs = _rows_for_chunk(group, runs, o, env_id, chunk_id, extra)
                db.write_chunk(sweep_name, rows, blobs)
                written += len(rows)
                diverged += sum(r["status"] == "diverged" for r in rows)
            else:
                db.write_chunk(sweep_name, _failed_rows(runs, o.get("error", "failed"), env_id))
                failed += len(runs)
            if bar and nproc > 1:
                bar.update(len(runs))
    return written, failed, diverged


def _gather(out: dict, ok: bool, chunk_size: int, n: int):
    """All processes' chunk outputs (padded to ``chunk_size`` runs) on every process."""
    from jax.experimental import multihost_utils

    flag = np.asarray([1 if ok else 0, n], np.int32)
    flags = np.asarray(multihost_utils.process_allgather(flag))
    if ok:
        padded = {
            k: np.concatenate([v, np.repeat(v[-1:], chunk_size - n, axis=0)])
            for k, v in out.items()
        }
    else:
        padded = None
    # processes that failed send zeros of the same structure as one that succeeded
    template = padded
    if template is None:
        raise RuntimeError("multi-process sweep: a chunk failed on this process: " + out["error"])
    all_out = multihost_utils.process_allgather(template)
    result = []
    for p in range(flags.shape[0]):
        m = int(flags[p, 1])
        result.append(({k: np.asarray(v[p][:m]) for k, v in all_out.items()}, bool(flags[p, 0])))
    return result
