"""Wall time of every command the README shows, run one after another in a checkout (issue 14.5).

Run from the root of a clean clone after ``make test`` (or ``make demo``) has built ``.venv``;
nothing else should run on the machine. Each command runs in a subprocess with the clone's
``.venv/bin`` first on ``PATH``; its wall time, exit code and last output lines are recorded.

    python benchmarks/readme_commands.py --out benchmarks/results/readme_commands.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

SNIPPET = """
import jax, jax.numpy as jnp
from leakjax import attacks, data, fl, metrics, models
from leakjax.types import status_name

ds = data.load_embedded("photos")
spec = ds.raw_spec()
model = models.lenet(jax.random.key(0), num_classes=100)
x, y = jnp.asarray(ds.images[:1]), jnp.asarray(ds.labels[:1])
obs = fl.observe(jax.random.key(1), model, x, y, spec=spec)
result = jax.jit(lambda k: attacks.run(attacks.idlg(model, spec=spec), k, obs, steps=300))(
    jax.random.key(2))
print(float(metrics.mse(result.inputs, x)[0]), result.labels, status_name(result.status))
"""

FILES = """
import numpy as np
from PIL import Image
from leakjax import data
ds = data.load_embedded("photos")
for i, name in ((0, "a.png"), (1, "b.jpg")):
    Image.fromarray((np.asarray(ds.images[i]) * 255).round().astype(np.uint8)).save("runs/" + name)
"""

COMMANDS = [
    ("make demo (venv already built)", "make demo"),
    ("python snippet (iDLG, one photo)", "python runs/snippet.py"),
    ("dlg, 8 photos x 2 seeds, 300 steps",
     "leakjax attack --attack dlg --data photos --num-images 8 --seeds 2 --steps 300 --out runs/dlg"),
    ("report", "leakjax report runs/dlg/store.sqlite --out runs/dlg/report"),
    ("export", "leakjax export runs/dlg/store.sqlite --csv runs/dlg/runs.csv"),
    ("dlg with --restarts 4",
     "leakjax attack --attack dlg --data photos --num-images 8 --seeds 2 --steps 300 "
     "--restarts 4 --out runs/dlg_r4"),
    ("dlg against prune=0.9",
     "leakjax attack --attack dlg --data photos --num-images 8 --steps 300 --defense prune=0.9 "
     "--out runs/dlg_prune"),
    ("two image files", "leakjax attack --attack idlg --data runs/a.png runs/b.jpg --labels 3,7 "
     "--num-classes 10 --out runs/files"),
    ("ig on a FedAvg update, ConvNet-16, 5 local steps, 2 photos, 200 steps",
     "leakjax attack --attack ig --model convnet --width 16 --labels-known --local-epochs 5 "
     "--local-lr 1e-4 --num-images 2 --steps 200 --out runs/ig_fedavg"),
    ("tag on pydoc text, 4 sequences, 1000 steps",
     "leakjax attack --attack tag --model transformer3 --data text-pydoc --num-images 4 "
     "--out runs/tag"),
    ("token-set recovery on pydoc text", "leakjax attack --attack token_set --model transformer3 "
     "--data text-pydoc --num-images 4 --out runs/token_set"),
    ("tiny sweep", "leakjax sweep benchmarks/sweeps/dlg_defenses.py --tiny --store runs/tiny.sqlite"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/readme_commands.json")
    ap.add_argument("--only", default=None, help="comma-separated indices of COMMANDS to run")
    args = ap.parse_args(argv)
    env = dict(os.environ)
    env["PATH"] = os.path.abspath(".venv/bin") + os.pathsep + env["PATH"]
    os.makedirs("runs", exist_ok=True)
    with open("runs/snippet.py", "w") as f:
        f.write(SNIPPET)
    subprocess.run([".venv/bin/python", "-c", FILES], check=True, env=env)
    for d in ("runs/dlg", "runs/dlg_r4", "runs/dlg_prune", "runs/files", "runs/ig_fedavg",
              "runs/tag", "runs/token_set", "runs/tiny.sqlite", "runs/demo"):  # fmt: skip
        if os.path.isdir(d):
            shutil.rmtree(d)
        elif os.path.exists(d):
            os.remove(d)
    pick = None if args.only is None else {int(i) for i in args.only.split(",")}
    rows = []
    for i, (what, cmd) in enumerate(COMMANDS):
        if pick is not None and i not in pick:
            continue
        t0 = time.perf_counter()
        p = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        tail = [ln for ln in (p.stdout + p.stderr).splitlines() if "Warning" not in ln][-12:]
        rows.append(dict(what=what, command=cmd, seconds=round(dt, 1), rc=p.returncode, tail=tail))
        print(f"{dt:7.1f} s  rc={p.returncode}  {what}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    record = dict(
        command=" ".join(["python", *sys.argv]),
        commit=commit,
        machine=dict(platform=platform.platform(), cpu_count=os.cpu_count(),
                     loadavg_after=os.getloadavg()),  # fmt: skip
        rows=rows,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
