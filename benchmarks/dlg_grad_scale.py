"""How large DLG's LeNet gradient is next to DLG's noise axis (the reason in issue 12's DLG table).

For the victims of ``benchmarks/sweeps/dlg_defenses.py`` (the first 8 private photos, 2 network
inits of the sigmoid LeNet, 32x32x3, 100 classes, U(-0.5, 0.5)), the undefended B = 1 gradient:
its per-entry RMS, median |g| and max |g| over all parameters, per tensor too, next to the
noise standard deviation of each variance on DLG's axis (std = sqrt(variance)).

    python benchmarks/dlg_grad_scale.py --out benchmarks/results/dlg_grad_scale.json

The networks are drawn with ``jax.random.key(seed)``. This is the same init distribution as the
sweep's, but not necessarily the sweep's keys, so these are the magnitudes of the gradient and
not each run's exact gradient.
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from leakjax import data, fl, models


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--victims", type=int, default=8)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    ds = data.load("photos", split="private")
    spec = ds.raw_spec()
    rms, med, mx, per_tensor = [], [], [], {}
    for s in range(args.seeds):
        model = models.lenet(jax.random.key(s), num_classes=100)
        for v in range(args.victims):
            x, y = jnp.asarray(ds.images[v : v + 1]), jnp.asarray(ds.labels[v : v + 1])
            obs = fl.observe(jax.random.key(1000 + v), model, x, y, spec=spec)
            leaves = jax.tree_util.tree_leaves_with_path(obs.update)
            flat = np.concatenate([np.abs(np.asarray(g)).ravel() for _, g in leaves])
            rms.append(float(np.sqrt(np.mean(flat**2))))
            med.append(float(np.median(flat)))
            mx.append(float(flat.max()))
            for path, g in leaves:
                name = jax.tree_util.keystr(path)
                per_tensor.setdefault(name, []).append(float(np.sqrt(np.mean(np.asarray(g) ** 2))))
    out = dict(
        victims=args.victims,
        seeds=args.seeds,
        parameters=int(flat.size),
        entry_rms=dict(median=float(np.median(rms)), min=min(rms), max=max(rms)),
        entry_median_abs=dict(median=float(np.median(med)), min=min(med), max=max(med)),
        entry_max_abs=dict(median=float(np.median(mx)), min=min(mx), max=max(mx)),
        tensor_rms_median={k: float(np.median(v)) for k, v in per_tensor.items()},
        noise_std={f"{var:g}": float(np.sqrt(var)) for var in (1e-4, 1e-3, 1e-2, 1e-1)},
        noise_std_over_entry_rms={
            f"{var:g}": float(np.sqrt(var) / np.median(rms)) for var in (1e-4, 1e-3, 1e-2, 1e-1)
        },
    )
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
