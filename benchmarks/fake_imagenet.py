"""Realistic fake data for ``bench_prepare.py``: an ILSVRC-2012 with the real layout, and ImageNet-PI CSVs.

Both are written once and reused while the ``manifest.json`` next to them matches the request (a
later run with ``--workdir DIR --keep``, or the PI files cached in ``--pi-dir``).
"""

from __future__ import annotations

import io
import itertools
import json
import random
import tarfile
import time
from pathlib import Path
from typing import Iterable

NUM_CLASSES, NUM_VALIDATION, NUM_ANNOTATORS = 1000, 50_000, 16
PI_TRAIN_ROWS = 1_281_167  # rows of ImageNet-PI {low,high}_noise/{labels,confidences}/train.csv
WNIDS = [f"n{1440764 + 9973 * i:08d}" for i in range(NUM_CLASSES)]  # sorted, real format
DATA_FORMAT_VERSION = 1  # bump when the generated data changes, so cached copies are rebuilt
PI_FORMAT_VERSION = 1
TRAIN_TAR, VAL_TAR = "ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"
PI_LABELS, PI_CONFIDENCES = "labels_train.csv", "confidences_train.csv"


def _cached_manifest(root: Path, want: dict, files: list[str]) -> dict | None:
    """The manifest of data written earlier in ``root`` if it matches ``want`` and ``files`` exist, else None."""
    path = root / "manifest.json"
    if not path.exists() or not all((root / name).exists() for name in files):
        return None
    manifest = json.loads(path.read_text())
    return manifest if {k: manifest.get(k) for k in want} == want else None


def _write_manifest(root: Path, manifest: dict) -> dict:
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def make_jpeg_pool(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct 500x375 RGB JPEGs of ~100 KB: smooth colour gradients + waves + noise, quality 90."""
    import numpy as np
    from PIL import Image

    pool = []
    h, w = 375, 500
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(count):
        r = np.random.default_rng(seed + i)
        c = r.uniform(0, 255, (3, 3))
        period = r.uniform(20, 80)
        base = np.stack([c[k, 0] + (c[k, 1] - c[k, 0]) * x / w + (c[k, 2] - 128) * 0.5 * np.sin(y / period + k) for k in range(3)], -1)
        base += r.normal(0, r.uniform(20, 27), base.shape)  # noise sets the size: ~100 KB at quality 90
        out = io.BytesIO()
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=90)
        pool.append(out.getvalue())
    return pool


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_338_000_000
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def make_fake_imagenet(root: Path, n_train: int, n_classes: int, n_val: int, pool: list[bytes], seed: int = 0) -> dict:
    """Write the four files the ``imagenet2012`` config reads for train + validation; returns a manifest.

    ``ILSVRC2012_img_train.tar`` is a tar of per-class ``<wnid>.tar`` holding ``<wnid>_<n>.JPEG``,
    ``ILSVRC2012_img_val.tar`` is flat (``ILSVRC2012_val_%08d.JPEG``), plus
    ``imagenet2012_labels.txt`` (1000 sorted fake WNIDs) and ``imagenet2012_validation_labels.txt``
    (50,000 lines). Images are drawn at random from ``pool``.
    """
    want = {"version": DATA_FORMAT_VERSION, "n_train": n_train, "n_classes": n_classes, "n_val": n_val, "pool": len(pool), "seed": seed}
    cached = _cached_manifest(root, want, [TRAIN_TAR, VAL_TAR])
    if cached:
        return cached  # reuse data written by an earlier run with --workdir/--keep
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    (root / "imagenet2012_labels.txt").write_text("\n".join(WNIDS) + "\n")
    classes = [WNIDS[round(i * (NUM_CLASSES - 1) / max(1, n_classes - 1))] for i in range(n_classes)]
    val_wnids = [classes[rng.randrange(n_classes)] for _ in range(NUM_VALIDATION)]
    (root / "imagenet2012_validation_labels.txt").write_text("\n".join(val_wnids) + "\n")

    image_bytes = 0
    per_class = [n_train // n_classes + (1 if c < n_train % n_classes else 0) for c in range(n_classes)]
    with tarfile.open(root / TRAIN_TAR, "w", format=tarfile.USTAR_FORMAT) as outer:
        for wnid, count in zip(classes, per_class):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as inner:
                for n in rng.sample(range(1, 60_000), count):  # real numbering: not contiguous, not sorted
                    data = pool[rng.randrange(len(pool))]
                    _add(inner, f"{wnid}_{n}.JPEG", data)
                    image_bytes += len(data)
            _add(outer, f"{wnid}.tar", buf.getvalue())
            del buf
    with tarfile.open(root / VAL_TAR, "w", format=tarfile.USTAR_FORMAT) as val:
        for i in range(1, n_val + 1):
            data = pool[rng.randrange(len(pool))]
            _add(val, f"ILSVRC2012_val_{i:08d}.JPEG", data)
            image_bytes += len(data)
    return _write_manifest(root, {
        **want,
        "images": n_train + n_val,
        "image_bytes": image_bytes,
        "mean_image_kb": round(image_bytes / (n_train + n_val) / 1000, 1),
        "train_tar_bytes": (root / TRAIN_TAR).stat().st_size,
        "val_tar_bytes": (root / VAL_TAR).stat().st_size,
        "generate_seconds": round(time.perf_counter() - t0, 1),
    })


def _write_pi_csvs(labels: Path, confidences: Path, names: Iterable[str], decimals: int | None, seed: int) -> None:
    """An ImageNet-PI labels + confidences CSV pair (no header; file name + 16 values) with a row per name."""
    import numpy as np

    rng = np.random.default_rng(seed)
    label_text = [str(i) for i in range(NUM_CLASSES)]
    fmt = (lambda v: f"{v:.{decimals}f}") if decimals is not None else repr
    labels.parent.mkdir(parents=True, exist_ok=True)
    confidences.parent.mkdir(parents=True, exist_ok=True)
    names = iter(names)
    with open(labels, "w") as fl, open(confidences, "w") as fc:
        while chunk := list(itertools.islice(names, 100_000)):
            n = len(chunk)
            lab = rng.integers(0, NUM_CLASSES, size=(n, NUM_ANNOTATORS)).tolist()
            # Softmax-like confidences: many near 1, some tiny (exponent notation in repr).
            conf = rng.beta(0.6, 0.4, size=(n, NUM_ANNOTATORS))
            conf[rng.random((n, NUM_ANNOTATORS)) < 0.05] *= 1e-4
            conf = conf.round(decimals).tolist() if decimals is not None else conf.tolist()
            fl.write("".join(name + "," + ",".join(label_text[v] for v in row) + "\n" for name, row in zip(chunk, lab)))
            fc.write("".join(name + "," + ",".join(map(fmt, row)) + "\n" for name, row in zip(chunk, conf)))


def make_fake_pi(root: Path, level: str = "high_noise", seed: int = 0) -> float:
    """ImageNet-PI CSVs for the images of the fake ImageNet in ``root`` (``imagenet_pi/<level>/...``, the
    layout the ``pi_<level>`` config reads), unless already there; returns the seconds taken."""
    from imagenet_variants_lib.archives import FlatTar, TarOfTars

    pi = root / "imagenet_pi" / level
    splits = {"train": root / TRAIN_TAR, "validation": root / VAL_TAR}
    if all((pi / kind / f"{split}.csv").exists() for kind in ("labels", "confidences") for split in splits):
        return 0.0
    t0 = time.perf_counter()
    for i, (split, tar) in enumerate(splits.items()):
        if split == "train":  # the inner tars' headers only, read in place
            names = []
            with open(tar, "rb", buffering=0) as f:
                for shard in TarOfTars.shards(str(tar)):
                    names += [m.name for m in TarOfTars.walk(shard, f)]
        else:
            names = [m.name for m in FlatTar.members(str(tar))]
        tmp = {kind: pi / kind / f"{split}.csv.tmp" for kind in ("labels", "confidences")}
        _write_pi_csvs(tmp["labels"], tmp["confidences"], names, None, seed + i)
        for path in tmp.values():
            path.rename(path.with_suffix(""))
    return time.perf_counter() - t0


def make_pi_csvs(pi_dir: Path, rows: int = PI_TRAIN_ROWS, decimals: int | None = None, seed: int = 0) -> dict:
    """Synthetic ImageNet-PI train CSVs, written once and reused while their manifest matches.

    Labels: ``n01440764_10026.JPEG,165,196,...`` (16 ints in 0..999). Confidences: file name + 16
    floats in [0, 1]. With ``decimals=None`` the floats are written as Python's shortest repr
    (``0.8444218515250481``, ``3.1e-05``), like the real files, which then weigh ~450 MB as the
    real ones (439-463 MB); ``decimals=6`` gives ``0.844422`` (~230 MB).
    """
    want = {"version": PI_FORMAT_VERSION, "rows": rows, "decimals": decimals, "seed": seed}
    cached = _cached_manifest(pi_dir, want, [PI_LABELS, PI_CONFIDENCES])
    if cached:
        return cached
    pi_dir.mkdir(parents=True, exist_ok=True)
    labels, confidences = pi_dir / PI_LABELS, pi_dir / PI_CONFIDENCES
    t0 = time.perf_counter()
    per_class = rows // NUM_CLASSES + 1
    names = (f"{WNIDS[i // per_class]}_{1 + (i % per_class) * 37}.JPEG" for i in range(rows))
    _write_pi_csvs(labels, confidences, names, decimals, seed)
    return _write_manifest(pi_dir, {
        **want,
        "labels_bytes": labels.stat().st_size,
        "confidences_bytes": confidences.stat().st_size,
        "generate_seconds": round(time.perf_counter() - t0, 1),
    })
