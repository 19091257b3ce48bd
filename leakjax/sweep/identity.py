"""A run's identity: its full configuration as canonical JSON, and the content hash of it.

The hash covers every field that changes the result (attack and hyperparameters, model and its
state, data, split, batch size and victim, threat model and recipes, defense spec and
placement, seed) plus the leakjax version, so a resumed sweep recognises finished runs and a
new library version never reuses old rows. It does not cover the sweep's name: the same run
declared by two sweeps is one row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

from leakjax.fl.local import LocalRecipe
from leakjax.sweep.spec import Attack, Data, Defense, Model, Threat

NUMERIC = object()  # marker for numbers that are batch axes (removed from the group key)


def _recipe(r: LocalRecipe | None):
    return None if r is None else dataclasses.asdict(r)


def _plain(v):
    if isinstance(v, float):
        if not math.isfinite(v):
            return repr(v)
        return float(repr(v))
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def run_config(cell: dict, victim: int) -> dict:
    """The JSON-able configuration of one run (a cell of the sweep and one victim)."""
    a: Attack = cell["attack"]
    m: Model = cell["model"]
    d: Data = cell["data"]
    t: Threat = cell["threat"]
    f: Defense = cell["defense"]
    return _plain(
        {
            "attack": {"name": a.name, "steps": a.steps, "restarts": a.restarts, "hp": dict(a.hp)},
            "model": {
                "name": m.name,
                "seed": m.seed,
                "init": m.init,
                "kwargs": dict(m.kwargs),
                "state": m.state,
                "train_steps": m.train_steps,
                **({"training": dict(m.training)} if m.training else {}),
            },
            "data": {
                "name": d.name,
                "split": d.split,
                "batch_size": d.batch_size,
                "normalize": d.normalize,
                **(
                    {"image_shape": list(d.image_shape), "num_classes": d.num_classes}
                    if d.name in ("random", "files")
                    else {}
                ),
                **(
                    {
                        "paths": [str(p) for p in d.paths],
                        "labels": [int(v) for v in d.labels],
                        "sha256": [file_sha256(p) for p in d.paths],
                    }
                    if d.name == "files"
                    else {}
                ),
                **(_text_data(d) if d.name.startswith("text-") else {}),
            },
            "victim": int(victim),
            "threat": {
                "labels": t.labels,
                "label_rule": t.label_rule,
                "recipe": _recipe(t.recipe),
                "assumed_recipe": _recipe(t.assumed_recipe),
            },
            "defense": {"spec": f.spec, "placement": f.placement},
            "seed": int(cell["seed"]),
        }
    )


def _text_data(d: Data) -> dict:
    from leakjax.sweep.text import text_data_identity

    return text_data_identity(d)


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def run_id(config: dict, version: str) -> str:
    """Content hash (hex, 24 characters) of a run's configuration and the leakjax version."""
    text = canonical_json({"config": config, "leakjax": version})
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def is_numeric_hp(name: str, value) -> bool:
    """Attack hyperparameters that are batch axes: floats, except the ones that drive Python
    control flow or validation (``tol``)."""
    return isinstance(value, float) and name not in ("tol",)


def group_key(config: dict) -> str:
    """What runs must share to be one compiled program: the configuration without its numbers
    (victim, seed, float hyperparameters, the defense's traceable numbers)."""
    from leakjax.defenses.spec import defense_numbers

    c = json.loads(canonical_json(config))
    c.pop("victim")
    c.pop("seed")
    c["attack"]["hp"] = {
        k: ("#" if is_numeric_hp(k, v) else v) for k, v in c["attack"]["hp"].items()
    }
    c["defense"]["spec"] = defense_numbers(c["defense"]["spec"])[0]
    return hashlib.sha256(canonical_json(c).encode()).hexdigest()[:16]
