"""A tiny fake ILSVRC-2012 with the real file-name formats, and the answers it was built with.

Built in a test's tmp_path: a tar of per-class tars (with a CMYK JPEG, a PNG named .JPEG and a
grayscale JPEG), a validation tar with 8-digit names (with a CMYK image as
ILSVRC2012_val_00019877.JPEG), a test tar, the two label files, real.json, a multilabel JSON and
ImageNet-PI CSVs. Tar members are written in shuffled order.
"""

from __future__ import annotations

import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

# 1000 sorted fake WNIDs in the real format (n + 8 digits).
WNIDS = [f"n{1440764 + 9973 * i:08d}" for i in range(1000)]
TRAIN_CLASSES = [0, 1, 7, 500, 999]
TRAIN_PER_CLASS = 4
VAL_INDICES = [1, 2, 3, 64, 500, 19877, 25000, 49999, 50000]  # 1-based, 8-digit names
TEST_COUNT = 5
CMYK_TRAIN = (7, 2)  # (class, image number) stored as CMYK JPEG
PNG_TRAIN = (500, 3)  # stored as PNG bytes under a .JPEG name
GRAY_TRAIN = (1, 1)  # grayscale JPEG: kept byte for byte
CMYK_VAL = 19877  # the real CMYK validation image


def train_name(cls: int, k: int) -> str:
    return f"{WNIDS[cls]}_{1000 + k}.JPEG"


def val_name(i: int) -> str:
    return f"ILSVRC2012_val_{i:08d}.JPEG"


def test_name(i: int) -> str:
    return f"ILSVRC2012_test_{i:08d}.JPEG"


def val_label(i: int) -> int:
    """Label of validation image i (1-based) in the fake validation labels file."""
    return (i * 37) % 1000


def real_labels(i: int) -> list[int]:
    """ReaL list of validation image i: empty for every 10th, two labels when i % 7 == 3 (unsorted)."""
    if i % 10 == 0:
        return []
    if i % 7 == 3:
        return [(val_label(i) + 5) % 1000, val_label(i)]
    return [val_label(i)]


def jpeg(mode: str = "RGB", seed: int = 0, size=(12, 9)) -> bytes:
    rng = random.Random(seed)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    pixels = bytes(rng.randrange(256) for _ in range(size[0] * size[1] * channels))
    out = io.BytesIO()
    Image.frombytes(mode, size, pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def png(seed: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 7), (seed % 256, 40, 200)).save(out, format="PNG")
    return out.getvalue()


def write_tar(path_or_file, members: dict[str, bytes], seed: int = 0) -> None:
    """A plain tar of ``members`` in a shuffled order (never rely on tar order)."""
    items = list(members.items())
    random.Random(seed).shuffle(items)
    with tarfile.open(fileobj=path_or_file, mode="w") if not isinstance(path_or_file, (str, Path)) else tarfile.open(path_or_file, "w") as tar:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@dataclass
class FakeImagenet:
    root: Path
    train: dict[str, int] = field(default_factory=dict)  # file name -> label
    validation: dict[str, int] = field(default_factory=dict)
    test: list[str] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes in the tar
    odd: set[str] = field(default_factory=set)  # file names that must be converted to RGB JPEG
    multilabel: dict[str, dict] = field(default_factory=dict)
    imagenet_m: list[str] = field(default_factory=list)
    pi_agreement: dict[tuple[str, str], float] = field(default_factory=dict)  # (level, split) -> fraction


def make_train(fake: FakeImagenet, path: Path) -> None:
    outer = {}
    for cls in TRAIN_CLASSES:
        inner = {}
        for k in range(TRAIN_PER_CLASS):
            name = train_name(cls, k)
            if (cls, k) == CMYK_TRAIN:
                data = jpeg("CMYK", seed=cls * 10 + k)
                fake.odd.add(name)
            elif (cls, k) == PNG_TRAIN:
                data = png(seed=cls)
                fake.odd.add(name)
            elif (cls, k) == GRAY_TRAIN:
                data = jpeg("L", seed=cls * 10 + k)
            else:
                data = jpeg("RGB", seed=cls * 10 + k)
            inner[name] = data
            fake.images[name] = data
            fake.train[name] = cls
        buf = io.BytesIO()
        write_tar(buf, inner, seed=cls)
        outer[f"{WNIDS[cls]}.tar"] = buf.getvalue()
    write_tar(path, outer, seed=1)


def build(
    root: Path,
    *,
    train: bool = True,
    val: bool = True,
    test: bool = True,
    test_tar_name: str = "ILSVRC2012_img_test_v10102019.tar",
    labels: bool = True,
    real: bool = True,
    multilabel: bool = True,
    pi: bool = True,
) -> FakeImagenet:
    root.mkdir(parents=True, exist_ok=True)
    fake = FakeImagenet(root)
    if train:
        make_train(fake, root / "ILSVRC2012_img_train.tar")
    if val:
        members = {}
        for i in VAL_INDICES:
            data = jpeg("CMYK", seed=i) if i == CMYK_VAL else jpeg("RGB", seed=i)
            members[val_name(i)] = data
            fake.images[val_name(i)] = data
            fake.validation[val_name(i)] = val_label(i)
        fake.odd.add(val_name(CMYK_VAL))
        write_tar(root / "ILSVRC2012_img_val.tar", members, seed=2)
    if test:
        members = {test_name(i): jpeg("RGB", seed=100 + i) for i in range(1, TEST_COUNT + 1)}
        fake.images.update(members)
        fake.test = sorted(members)
        write_tar(root / test_tar_name, members, seed=3)
    if labels:
        (root / "imagenet2012_labels.txt").write_text("\n".join(WNIDS) + "\n")
        (root / "imagenet2012_validation_labels.txt").write_text("\n".join(WNIDS[val_label(i)] for i in range(1, 50_001)) + "\n")
    if real:
        (root / "real.json").write_text(json.dumps([real_labels(i) for i in range(1, 50_001)]))
    if multilabel:
        write_multilabel(fake, root / "human_accuracy_v3.0.0.json")
    if pi:
        for level, agree_every in (("low_noise", 2), ("high_noise", 6)):
            write_pi(fake, root / "imagenet_pi" / level, agree_every)
    return fake


def write_multilabel(fake: FakeImagenet, path: Path) -> None:
    """Annotations for validation images 1, 2, 3, 64, 19877 (64 problematic), an ImageNetV2 entry, ImageNet-M = [2, 19877]."""
    annots = {}
    for i in (1, 2, 3, 64, CMYK_VAL):
        entry = {"correct": [WNIDS[val_label(i)]], "wrong": [WNIDS[(val_label(i) + 1) % 1000]]}
        if i % 2:
            entry["unclear"] = [WNIDS[(val_label(i) + 2) % 1000], WNIDS[(val_label(i) + 3) % 1000]]
        if i == 3:
            del entry["wrong"]  # any list may be missing
        annots[val_name(i)] = entry
    annots["imagenetv2-matched-frequency/n01440764/7e3c2d5b.jpeg"] = {"correct": [WNIDS[0]]}
    problematic = {val_name(64): {"reason": "marked as problematic in the review server"}}
    imagenet_m = [val_name(2), val_name(CMYK_VAL)]
    path.write_text(json.dumps({"initial_annots": annots, "problematic_images": problematic, "imagenet_m": imagenet_m}, indent=1))
    cls = {w: i for i, w in enumerate(WNIDS)}
    for name, entry in annots.items():
        if name.startswith("ILSVRC2012_val_"):
            fake.multilabel[name] = {
                kind: [cls[w] for w in entry.get(kind, [])] for kind in ("correct", "wrong", "unclear")
            } | {"is_problematic": name in problematic}
    fake.imagenet_m = imagenet_m


def write_pi(fake: FakeImagenet, folder: Path, agree_every: int) -> None:
    """PI CSVs where annotator j agrees with the clean label iff (row + j) % agree_every == 0."""
    for split, truth in (("train", fake.train), ("validation", fake.validation)):
        label_lines, conf_lines, agree, total = [], [], 0, 0
        for row, (name, clean) in enumerate(sorted(truth.items())):
            labels = [clean if (row + j) % agree_every == 0 else (clean + 1 + j) % 1000 for j in range(16)]
            agree += sum(lab == clean for lab in labels)
            total += 16
            label_lines.append(",".join([name, *map(str, labels)]))
            conf_lines.append(",".join([name, *(f"{(j + 1) / 17:.6f}" for j in range(16))]))
        for kind, lines in (("labels", label_lines), ("confidences", conf_lines)):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            (folder / kind / f"{split}.csv").write_text("\n".join(lines) + "\n")
        fake.pi_agreement[(folder.name, split)] = agree / total
    (folder / "annotator_features.csv").write_text("\n".join(f"{0.1 * j - 0.8:.3f},{1.0 + 0.05 * j:.3f}" for j in range(16)) + "\n")
