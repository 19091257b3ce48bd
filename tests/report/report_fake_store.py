"""A tiny sweep store written row by row (no attack is run): hand-checkable numbers.

Cells (attack rows):

* ``dlg | none``: valid PSNR 10, 30, 20, 40 (lower median 20, not 25); one diverged run with
  PSNR 99 and one failed run (both must stay out of the medians); label accuracies 1, 1, 0,
  0.5 (mean 0.625); LPIPS never computed; success (PSNR >= 20) 3 of 5 attempted.
* ``dlg | noise_var=0.01``: PSNR 5, 8, 6 (median 6), LPIPS 0.5, 0.4, 0.6 (median 0.5).
* ``dlg | dpsgd=1:1.1``: PSNR 12, 14 (lower median 12), epsilon 3.0, B=2 RGB images.
* ``tag | none``: a text run (no PSNR, no blobs) with ``metrics["text"]``.

Utility rows: ``none`` (0.9), ``noise_var=1e-2`` (0.8: the same defense spelled otherwise),
``dpsgd=1:1.1`` (0.5, epsilon 7.0) and a failed ``prune=0.9``.
"""

from __future__ import annotations

import json

import numpy as np

from leakjax.defenses.spec import defense_numbers
from leakjax.sweep import Store

SWEEP = "fake"
SOURCE = "# the fake sweep's source\nSWEEP = Sweep('fake', runs=[])\n"
ENV = {"leakjax": "0.1.0", "jax": "0.0-test", "backend": "cpu", "device_kind": "cpu"}


def _config(attack, defense, seed, victim, batch_size=1):
    return {
        "attack": {"name": attack, "steps": 20, "restarts": 1, "hp": {}},
        "model": {"name": "lenet", "seed": 0, "init": None, "kwargs": {}, "state": "untrained",
                  "train_steps": 0},
        "data": {"name": "digits", "split": "private", "batch_size": batch_size,
                 "normalize": "auto"},
        "threat": {"labels": None, "label_rule": "idlg", "recipe": None, "assumed_recipe": None},
        "defense": {"spec": defense, "placement": None},
        "seed": seed,
        "victim": victim,
    }  # fmt: skip


def _row(n, attack, defense, status, psnr, *, seed=0, victim=None, batch_size=1, **extra):
    victim = n if victim is None else victim
    cfg = _config(attack, defense, seed, victim, batch_size)
    row = dict(
        run_id=f"run{n:03d}",
        kind="attack",
        config=json.dumps(cfg, sort_keys=True),
        attack=attack,
        model="lenet",
        data="digits",
        defense=defense,
        defense_kind=defense_numbers(defense)[0],
        placement=None,
        threat=json.dumps(cfg["threat"]),
        seed=seed,
        victim=victim,
        batch_size=batch_size,
        status=status,
        loss=0.01,
        psnr=psnr,
        mse=None if psnr is None else 10 ** (-psnr / 10),
        ssim=None if psnr is None else min(1.0, psnr / 50),
        upload_bits=1000.0,
        metrics=dict(per_image={"psnr": [psnr] * batch_size}, perm=list(range(batch_size))),
        victims=dict(indices=[victim] * batch_size, labels=[victim % 10] * batch_size,
                     names=[str(victim % 10)] * batch_size, sources=[f"src{victim}"] * batch_size),
        created=float(n),
    )  # fmt: skip
    row.update(extra)
    return row


def fake_rows():
    rows = []
    for i, (p, la) in enumerate(zip((10.0, 30.0, 20.0, 40.0), (1.0, 1.0, 0.0, 0.5))):
        rows.append(_row(i, "dlg", "none", "max_steps" if i % 2 else "converged", p,
                         label_acc=la, seed=i % 2))  # fmt: skip
    rows.append(_row(4, "dlg", "none", "diverged", 99.0, label_acc=1.0, loss=None))
    rows.append(
        _row(5, "dlg", "none", "failed", None, metrics=dict(error="ValueError: boom\ntrace line"))
    )
    for i, (p, lp) in enumerate(zip((5.0, 8.0, 6.0), (0.5, 0.4, 0.6))):
        rows.append(_row(10 + i, "dlg", "noise_var=0.01", "converged", p, lpips=lp,
                         label_acc=1.0))  # fmt: skip
    for i, p in enumerate((12.0, 14.0)):
        rows.append(_row(20 + i, "dlg", "dpsgd=1:1.1", "max_steps", p, batch_size=2,
                         epsilon=3.0, delta=1e-5, label_acc=1.0))  # fmt: skip
    for i, acc in enumerate((0.25, 0.75, 0.5)):
        rows.append(_row(30 + i, "tag", "none", "max_steps", None, metrics=dict(text=dict(
            token_accuracy=acc, rouge1=[acc, acc / 2], recovered=f"hello w{i}rld",
            true="hello world"))))  # fmt: skip
    return rows


def utility_rows():
    def u(n, defense, status, acc, **extra):
        row = dict(
            run_id=f"util{n}", kind="utility", config=json.dumps({"defense": defense}),
            model="mlp", data="digits", defense=defense,
            defense_kind=defense_numbers(defense)[0], placement=None, seed=0, status=status,
            accuracy=acc, upload_bits=2000.0, created=100.0 + n,
            metrics=dict(accuracy_curve=[0.1, acc or 0.0], best_accuracy=acc),
        )  # fmt: skip
        row.update(extra)
        return row

    return [
        u(0, "none", "converged", 0.9),
        u(1, "noise_var=1e-2", "converged", 0.8),
        u(2, "dpsgd=1:1.1", "converged", 0.5, epsilon=7.0, delta=1e-5),
        u(3, "prune=0.9", "failed", None,
          metrics=dict(error="RuntimeError: utility broke", traceback="Traceback ...")),
    ]  # fmt: skip


def fake_blobs(rows):
    """Truth and reconstruction (float16, [0, 1]) of every image run with a PSNR."""
    rng = np.random.default_rng(0)
    out = []
    for r in rows:
        if r["psnr"] is None or r["status"] == "failed":
            continue
        b = r["batch_size"]
        c = 3 if b == 2 else 1
        truth = rng.uniform(size=(b, 8, 8, c)).astype(np.float16)
        recon = np.clip(truth + rng.normal(0, 0.1, truth.shape), 0, 1).astype(np.float16)
        out += [(r["run_id"], "truth", truth), (r["run_id"], "reconstruction", recon)]
    return out


def write_fake_store(path):
    rows = fake_rows()
    with Store(path) as s:
        s.put_environment("env0", ENV)
        s.put_sweep(SWEEP, {"name": SWEEP, "description": "a hand-made store"}, SOURCE)
        for r in rows:
            r["env_id"] = "env0"
        s.write_chunk(SWEEP, rows, fake_blobs(rows))
        s.write_chunk(SWEEP, [dict(r, env_id="env0") for r in utility_rows()])
    return path
