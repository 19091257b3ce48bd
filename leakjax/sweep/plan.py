"""Planning: expand a sweep into runs, find the finished ones, group the rest by static structure.

Runs whose configurations differ only in numbers (victim, seed, float attack hyperparameters,
the defense's traceable numbers) form one *group*: one compiled program, with those numbers as
batch axes. The engine splits each group into chunks (:mod:`leakjax.sweep.engine`).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import leakjax
from leakjax.sweep.build import (
    attack_numbers,
    attack_steps,
    defense_numbers_of,
    validate_cell,
)
from leakjax.sweep.identity import group_key, run_config, run_id
from leakjax.sweep.spec import Sweep, Utility

FINISHED = ("converged", "max_steps")
RERUNNABLE = ("diverged", "failed")


@dataclasses.dataclass
class PlannedRun:
    run_id: str
    config: dict
    group: str
    victim: int
    seed: int
    attack_numbers: dict
    defense_numbers: list


@dataclasses.dataclass
class GroupPlan:
    key: str
    config: dict  # the first run's configuration (representative)
    label: str
    runs: list  # pending PlannedRuns
    total: int  # runs of the group in the sweep (done or not)

    @property
    def num_victims(self) -> int:
        return 1 + max(r.victim for r in self.runs) if self.runs else 0


@dataclasses.dataclass
class UtilityRun:
    run_id: str
    config: dict
    spec: Utility


@dataclasses.dataclass
class Plan:
    sweep: Sweep
    runs: list  # every attack run (PlannedRun), done or not
    groups: list  # GroupPlans with pending runs
    done: dict  # run_id -> status of the sweep's runs already in the store
    utility: list  # UtilityRuns still to do
    utility_total: int

    @property
    def pending(self) -> int:
        return sum(len(g.runs) for g in self.groups) + len(self.utility)

    @property
    def total(self) -> int:
        return len(self.runs) + self.utility_total

    def describe(self, estimates: dict | None = None) -> str:
        """The dry-run text: runs, compiled groups, chunks, memory, runs already stored."""
        lines = [
            f"sweep {self.sweep.name!r}: {self.total} runs ({len(self.runs)} attack, "
            f"{self.utility_total} utility); {len(self.done)} already in the store, "
            f"{self.pending} to run",
            f"{len(self.groups)} compiled group(s) with pending runs:",
        ]
        for g in self.groups:
            est = (estimates or {}).get(g.key)
            extra = ""
            if est:
                extra = (
                    f"; {est['chunks']} chunk(s) of <= {est['chunk_size']} runs"
                    f"; ~{est['bytes_per_run'] / 2**20:.1f} MiB per run"
                    f" ({est['strategy']})"
                )
            lines.append(f"  [{g.key}] {len(g.runs)}/{g.total} runs: {g.label}{extra}")
        if self.utility:
            lines.append(f"{len(self.utility)} utility run(s) (FedAvg, one program each)")
        return "\n".join(lines)


def _label(cell: dict, config: dict) -> str:
    a, m, d, t, f = (cell[k] for k in ("attack", "model", "data", "threat", "defense"))
    from leakjax.defenses.spec import defense_numbers

    skel = defense_numbers(f.spec)[0]
    return (
        f"{a.name} x{attack_steps(config)} steps | {m.label()} | {d.label()} | "
        f"defense {skel}{'@' + f.placement if f.placement else ''} | {t.label()}"
    )


def utility_config(u: Utility) -> dict:
    from leakjax.sweep.identity import _plain, _recipe

    return _plain(
        {
            "kind": "utility",
            "model": {
                "name": u.model.name,
                "seed": u.model.seed,
                "init": u.model.init,
                "kwargs": dict(u.model.kwargs),
            },
            "data": u.data,
            "defense": {"spec": u.defense.spec, "placement": u.defense.placement},
            "rounds": u.rounds,
            "clients": u.clients,
            "recipe": _recipe(u.recipe),
            "samples_per_round": u.samples_per_round,
            "dirichlet_alpha": u.dirichlet_alpha,
            "train_split": u.train_split,
            "test_split": u.test_split,
            "seed": u.seed,
        }
    )


def make_plan(sweep: Sweep, statuses: dict, *, rerun_failed: bool = False) -> Plan:
    """Expand, validate and group ``sweep``; ``statuses`` maps stored run ids to status."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"make_plan: sweep={sweep!r}, expected a leakjax.sweep.Sweep")
    version = leakjax.__version__
    cells = sweep.cells()
    for cell in cells:
        validate_cell(sweep.name, cell)
    runs, done = [], {}
    groups: OrderedDict[str, GroupPlan] = OrderedDict()
    seen = set()
    for cell in cells:
        for v in range(cell["data"].victims):
            config = run_config(cell, v)
            rid = run_id(config, version)
            if rid in seen:
                continue
            seen.add(rid)
            gk = group_key(config)
            r = PlannedRun(
                run_id=rid,
                config=config,
                group=gk,
                victim=v,
                seed=int(cell["seed"]),
                attack_numbers=attack_numbers(config),
                defense_numbers=defense_numbers_of(config),
            )
            runs.append(r)
            g = groups.get(gk)
            if g is None:
                g = groups[gk] = GroupPlan(gk, config, _label(cell, config), [], 0)
            g.total += 1
            status = statuses.get(rid)
            finished = status is not None and (status in FINISHED or not rerun_failed)
            if finished:
                done[rid] = status
            else:
                g.runs.append(r)
    utility, u_total = [], 0
    for u in sweep.utility:
        if not isinstance(u, Utility):
            raise TypeError(f"sweep {sweep.name!r}: utility entry {u!r}, expected a Utility")
        from leakjax.defenses import parse_defense

        try:
            parse_defense(u.defense.spec, 0)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"sweep {sweep.name!r}: utility defense={u.defense.spec!r}: {e}"
            ) from None
        config = utility_config(u)
        rid = run_id(config, version)
        if rid in seen:
            continue
        seen.add(rid)
        u_total += 1
        status = statuses.get(rid)
        if status is not None and (status in FINISHED or not rerun_failed):
            done[rid] = status
        else:
            utility.append(UtilityRun(rid, config, u))
    return Plan(
        sweep=sweep,
        runs=runs,
        groups=[g for g in groups.values() if g.runs],
        done=done,
        utility=utility,
        utility_total=u_total,
    )
