"""``imagenet-variants demo``: a generated tiny ImageNet, every config prepared from it, and what came out.

The demo data follow the real formats (a tar of per-class tars, 8-digit validation names, the
2019 test tar name, 1000 sorted WNIDs, 50,000-line label files, real.json, the multilabel JSON
and the ImageNet-PI CSV layout), with made-up WNIDs and pictures, a CMYK JPEG and a PNG named
``.JPEG`` among them.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

NUM_CLASSES, NUM_VALIDATION = 1000, 50_000  # the real sizes of the label files (FORMATS.md)
DEMO_CLASSES = 4  # classes that get train images
TRAIN_PER_CLASS = 6
VAL_IMAGES = 12
TEST_IMAGES = 4


def _wnids() -> list[str]:
    return [f"n{10_000_000 + 5_003 * i:08d}" for i in range(NUM_CLASSES)]


def _picture(rng: np.random.Generator, mode: str = "RGB", fmt: str = "JPEG") -> bytes:
    """A small smooth random picture, encoded as ``fmt`` in colour ``mode``."""
    base = rng.integers(0, 256, size=(3, 4, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((64, 48), Image.BICUBIC).convert(mode)
    out = io.BytesIO()
    img.save(out, format=fmt, quality=90) if fmt == "JPEG" else img.save(out, format=fmt)
    return out.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_demo_data(root: str | Path, seed: int = 0) -> Path:
    """Write a tiny fake ImageNet with every config's files into ``root``; returns ``root``."""
    root, rng, wnids = Path(root), np.random.default_rng(seed), _wnids()
    root.mkdir(parents=True, exist_ok=True)
    classes = [wnids[i] for i in np.linspace(0, NUM_CLASSES - 1, DEMO_CLASSES).astype(int)]
    train = {}
    with tarfile.open(root / "ILSVRC2012_img_train.tar", "w") as outer:
        for c, wnid in enumerate(classes):
            inner_bytes = io.BytesIO()
            with tarfile.open(fileobj=inner_bytes, mode="w") as inner:
                for k in range(TRAIN_PER_CLASS):
                    odd = {(0, 1): ("CMYK", "JPEG"), (1, 2): ("RGB", "PNG")}.get((c, k), ("RGB", "JPEG"))
                    name = f"{wnid}_{7 * k + 3}.JPEG"
                    _add(inner, name, _picture(rng, *odd))
                    train[name] = wnid
            _add(outer, f"{wnid}.tar", inner_bytes.getvalue())
    val_labels = [wnids[i] for i in rng.integers(0, NUM_CLASSES, NUM_VALIDATION)]
    val_ids = sorted(rng.choice(np.arange(1, NUM_VALIDATION + 1), VAL_IMAGES, replace=False).tolist())
    val_names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in val_ids]
    with tarfile.open(root / "ILSVRC2012_img_val.tar", "w") as tar:
        for j, name in enumerate(val_names):
            _add(tar, name, _picture(rng, "CMYK" if j == 0 else "RGB"))
    with tarfile.open(root / "ILSVRC2012_img_test_v10102019.tar", "w") as tar:
        for i in range(1, TEST_IMAGES + 1):
            _add(tar, f"ILSVRC2012_test_{i:08d}.JPEG", _picture(rng))
    (root / "imagenet2012_labels.txt").write_text("\n".join(wnids) + "\n")
    (root / "imagenet2012_validation_labels.txt").write_text("\n".join(val_labels) + "\n")
    index = {w: i for i, w in enumerate(wnids)}
    real = [[] if i % 9 == 0 else [index[w]] for i, w in enumerate(val_labels)]
    (root / "real.json").write_text(json.dumps(real))
    annotated = val_names[: VAL_IMAGES // 2]
    multilabel = {
        "initial_annots": {n: {"correct": [val_labels[int(n[15:23]) - 1]], "wrong": [wnids[0]]} for n in annotated},
        "problematic_images": {annotated[0]: {"reason": "demo"}},
        "imagenet_m": annotated[:2],
    }
    (root / "human_accuracy_v3.0.0.json").write_text(json.dumps(multilabel))
    truth = {**{n: index[w] for n, w in train.items()}, **{n: index[val_labels[int(n[15:23]) - 1]] for n in val_names}}
    for level, keep in (("low_noise", 0.52), ("high_noise", 0.16)):  # published agreement (README)
        _write_pi(root / "imagenet_pi" / level, truth, keep, rng)
    return root


def _write_pi(folder: Path, truth: dict[str, int], keep: float, rng: np.random.Generator) -> None:
    for split, prefix in (("train", "n"), ("validation", "ILSVRC2012_val_")):
        names = [n for n in truth if n.startswith(prefix)]
        clean = np.array([truth[n] for n in names])[:, None]
        noisy = rng.integers(0, NUM_CLASSES, size=(len(names), 16))
        labels = np.where(rng.random((len(names), 16)) < keep, clean, noisy)
        conf = rng.random((len(names), 16))
        for kind, rows in (("labels", labels), ("confidences", conf)):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            fmt = (lambda v: str(v)) if kind == "labels" else (lambda v: f"{v:.6f}")
            lines = [",".join([n, *map(fmt, row.tolist())]) for n, row in zip(names, rows)]
            (folder / kind / f"{split}.csv").write_text("\n".join(lines) + "\n")
    features = np.round(rng.normal(size=(16, 2)), 4)
    (folder / "annotator_features.csv").write_text("\n".join(f"{a},{b}" for a, b in features) + "\n")


def _show(value, feature) -> str:
    """A short human-readable form of one field of a row."""
    import datasets

    inner = getattr(feature, "feature", None)
    if isinstance(feature, datasets.Image):
        return f"<{value.format} image, {value.mode}, {value.size[0]}x{value.size[1]}>"
    if isinstance(feature, datasets.ClassLabel):
        return f"{value} ({feature.int2str(value) if value >= 0 else 'no label'})"
    if isinstance(inner, datasets.ClassLabel):
        return "[" + ", ".join(f"{v} ({inner.int2str(v)})" for v in value) + "]"
    if isinstance(value, list) and value and isinstance(value[0], float):
        return "[" + ", ".join(f"{v:.2f}" for v in value) + "]"
    return str(value)


def run_demo(directory: str | Path | None = None, cache_dir: str | Path | None = None, num_proc: int | None = None) -> dict:
    """Generate the demo data, prepare every config from it, print a summary; returns {config: DatasetDict}."""
    from . import CONFIG_NAMES, load_variant

    directory = Path(directory or tempfile.mkdtemp(prefix="imagenet-variants-demo-"))
    data_dir = make_demo_data(directory / "data")
    cache_dir = Path(cache_dir or directory / "cache")
    print(f"Demo ImageNet written to {data_dir} (same file names and formats as the real tarballs).\n")
    results = {}
    for name in CONFIG_NAMES:
        dsd = load_variant(name, data_dir=data_dir, cache_dir=cache_dir, num_proc=num_proc)
        results[name] = dsd
        counts = ", ".join(f"{split} {len(ds):,}" for split, ds in dsd.items())
        print(f"== {name}: {counts}")
        first = next(iter(dsd.values()))
        print("   first row:")
        for key, value in first[0].items():
            print(f"     {key:<22} {_show(value, first.features[key])}")
        if "annotator_labels" in first.features:
            agree = np.mean(np.array(first["annotator_labels"]) == np.array(first["clean_label"])[:, None])
            print(f"   annotator labels equal to the clean label: {agree:.1%}")
    print(f"\nArrow cache: {cache_dir}")
    print("Next: imagenet-variants prepare imagenet2012 --data-dir /path/to/your/tarballs")
    return results
