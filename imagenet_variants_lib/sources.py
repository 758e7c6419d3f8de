"""Where every input file comes from: its name in ``data_dir``, its URL and pinned sha256.

One check (:func:`locate`) finds all of a config's files at once, downloads the missing
metadata that has a URL, and raises a single :class:`MissingFilesError` listing everything
that is still missing, with where to get each file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .errors import ChecksumError, MissingFilesError

# Registration is needed for the image tarballs; nothing can download them for the user.
IMAGENET_DOWNLOAD = "register at https://image-net.org/download-images and download it from there"

# Source: ../shared/refdata/FORMATS.md (TFDS imagenet2012 metadata folder).
_TFDS_IMAGENET = "https://raw.githubusercontent.com/tensorflow/datasets/master/tensorflow_datasets/datasets/imagenet2012"
# Source: ImageNet-PI repository at the commit whose LFS checksums FORMATS.md pins.
_PI_COMMIT = "8cd2289cbe8939c248bacacb0bea2604803669e7"
_PI_MEDIA = f"https://media.githubusercontent.com/media/google-research-datasets/imagenet_pi/{_PI_COMMIT}"


@dataclass(frozen=True)
class Source:
    """One input file: accepted names inside ``data_dir`` (first found wins), and its origin."""

    key: str
    names: tuple[str, ...]
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None  # published md5 of the ImageNet tarballs (verify only)
    origin: str = IMAGENET_DOWNLOAD

    @property
    def where(self) -> str:
        if self.url:
            return f"downloaded from {self.url} (sha256 {self.sha256}) unless present in data_dir"
        return self.origin


def _tar(key: str, *names: str, md5: str | None = None) -> Source:
    return Source(key, names, md5=md5)


def _meta(key: str, name: str, url: str, sha256: str) -> Source:
    return Source(key, (name,), url=url, sha256=sha256, origin=f"download it from {url}")


# md5 values: published ILSVRC-2012 checksums (FORMATS.md, "The image tarballs").
_TARBALLS = [
    _tar("train_tar", "ILSVRC2012_img_train.tar", md5="1d675b47d978889d74fa0da5fadfb00e"),
    _tar("val_tar", "ILSVRC2012_img_val.tar", md5="29b22e2961454d5413ddabcf34fc5622"),
    # The 2019-patched test tar is usually kept under its own name (FORMATS.md).
    _tar("test_tar", "ILSVRC2012_img_test_v10102019.tar", "ILSVRC2012_img_test.tar"),
]

# sha256 values: ../shared/refdata/FORMATS.md, "Files in this folder".
_METADATA = [
    _meta("labels", "imagenet2012_labels.txt", f"{_TFDS_IMAGENET}/labels.txt",
          "70002b0ff5de60a3a17a82dbfcff291931f96225ddf941ad2e182fc39e183d15"),
    _meta("validation_labels", "imagenet2012_validation_labels.txt", f"{_TFDS_IMAGENET}/validation_labels.txt",
          "313fc3f23c864dde9183c9a368809065765dd1b657a6904fded44e3e46d34604"),
    _meta("real_json", "real.json", "https://raw.githubusercontent.com/google-research/reassessed-imagenet/master/real.json",
          "d83e9bff374c631aae8439eb064c7019acc56e1b3bc3f56b8380c2a710b0220b"),
    _meta("multilabel_json", "human_accuracy_v3.0.0.json",
          "https://storage.googleapis.com/brain-car-datasets/imagenet-mistakes/human_accuracy_v3.0.0.json",
          "d5b2b6111fc9efea16aaebd21bc5a401d16ad18285d3fd99635d8b32ebdb6287"),
    _meta("class_info", "class_info.json",
          "https://raw.githubusercontent.com/modestyachts/ImageNetV2/master/data/metadata/class_info.json",
          "01968f45aa507b6ccf4d9a1f5f71f1dfc16819f32d6d84ee95861edba98d043b"),
]

# sha256 values: ../shared/refdata/imagenet_pi_checksums.tsv (Git LFS pointers at _PI_COMMIT).
_PI_SHA256 = {
    "high_noise/annotator_features.csv": "885b4f1be65f392d163ec11c5a839fb2077c8dbd53f71be38bdce0401c81ed73",
    "high_noise/confidences/train.csv": "db31de83e168ef74ea898504c1d46f60ffca55ef05c1267226d487087701e5e6",
    "high_noise/confidences/validation.csv": "908042df9acdf2176a34ee9ece03251dfa3ae0fded4f1feb204ed5b7dff6beea",
    "high_noise/labels/train.csv": "edd1a2d626f6824061978db84ddb44719d1de88513f49048eaaf0a7800b769d6",
    "high_noise/labels/validation.csv": "6c413de9ed9fc851707d2ee2d1ca2102fc6afdfd18fa35f676aa59187d99bb2f",
    "low_noise/annotator_features.csv": "885b4f1be65f392d163ec11c5a839fb2077c8dbd53f71be38bdce0401c81ed73",
    "low_noise/confidences/train.csv": "06b918ab81db11ae4549e00518d97601c84cfaa95672de6f0b1b5cfe36c8bcd3",
    "low_noise/confidences/validation.csv": "16fb09260b6cbefc6968106e5de094a849aee0285be8ac2eae2056b0e8487298",
    "low_noise/labels/train.csv": "93685f397d63c00317c7a98f219a61d88e4851f52ac56cf781162d894f892711",
    "low_noise/labels/validation.csv": "d3b147bc447016717f1a12e323200c654dec55ab4293830bcaad3a138c90bd5d",
}
# Upstream layout inside data_dir: imagenet_pi/<level>/..., one data_dir serves both PI configs.
PI_ROOT = "imagenet_pi"


def pi_key(level: str, kind: str, split: str | None = None) -> str:
    """Source key of an ImageNet-PI CSV, e.g. ``pi/low_noise/labels/train``."""
    return "/".join(["pi", level, kind] + ([split] if split else []))


def _pi_sources() -> list[Source]:
    out = []
    for rel, sha in _PI_SHA256.items():
        key = "pi/" + rel[: -len(".csv")]
        out.append(_meta(key, f"{PI_ROOT}/{rel}", f"{_PI_MEDIA}/{rel}", sha))
    return out


SOURCES: dict[str, Source] = {s.key: s for s in [*_TARBALLS, *_METADATA, *_pi_sources()]}

Downloader = Callable[[str], str]


def find(data_dir: str | os.PathLike | None, source: Source) -> Path | None:
    """The first of ``source.names`` that exists in ``data_dir``, or None."""
    if data_dir is None:
        return None
    for name in source.names:
        path = Path(data_dir, name)
        if path.is_file():
            return path
    return None


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: str | os.PathLike, source: Source) -> None:
    """Raise :class:`ChecksumError` if a downloaded file is not the pinned one."""
    if source.sha256 is None:
        return
    actual = sha256_of(path)
    if actual != source.sha256:
        raise ChecksumError(
            f"{source.names[0]}: sha256 is {actual}, expected {source.sha256} (downloaded from {source.url} "
            f"to {path}). The download is corrupt or the upstream file changed: delete it and retry, or put "
            f"the correct file in data_dir as {source.names[0]}."
        )


def describe_missing(keys: Iterable[str]) -> str:
    """One line per missing file: its name(s) and where to get it."""
    lines = []
    for key in keys:
        src = SOURCES[key]
        names = " or ".join(src.names)
        lines.append(f"  - {names}: {src.origin}")
    return "\n".join(lines)


def layout_hints(data_dir: str | os.PathLike | None, keys: Iterable[str]) -> list[str]:
    """What to move or decompress when a missing file is found elsewhere in ``data_dir``."""
    if data_dir is None or not Path(data_dir).is_dir():
        return []
    root, hints = Path(data_dir), []
    for key in keys:
        for name in SOURCES[key].names:
            stem = name[: -len(".tar")] if name.endswith(".tar") else name
            for packed in (f"{name}.gz", f"{stem}.tar.gz", f"{stem}.tgz"):
                if (root / packed).is_file():
                    hints.append(f"{packed} is gzip-compressed: run `gunzip -k {packed}`{' and name the result ' + name if not packed.startswith(name) else ''}; the tarballs must be plain tar.")
            for sub in sorted(p for p in root.iterdir() if p.is_dir()):
                if (sub / name).is_file():
                    hints.append(f"{name} is in the subfolder {sub.name}/: move it up into {root}, or pass {sub} as data_dir.")
            if name.startswith(PI_ROOT + "/"):
                rel = name[len(PI_ROOT) + 1 :]
                level, _, inner = rel.partition("/")
                if (root / rel).is_file():
                    hints.append(f"found {level}/ directly in {root}: the ImageNet-PI folders belong in {root / PI_ROOT}/ (move {level}/ into {PI_ROOT}/), one level deeper.")
                if (root / PI_ROOT / PI_ROOT / rel).is_file():
                    hints.append(f"found {PI_ROOT}/{PI_ROOT}/{level}/: move the inner {PI_ROOT}/ contents up one level, to {root / PI_ROOT}/{level}/.")
                if (root / PI_ROOT / inner).is_file():
                    hints.append(f"found {PI_ROOT}/{inner} without a noise level: it belongs in {PI_ROOT}/low_noise/ or {PI_ROOT}/high_noise/.")
                upstream_readme_name = inner.replace("/", "-")  # the upstream README says labels-train.csv
                if inner != upstream_readme_name and (root / PI_ROOT / level / upstream_readme_name).is_file():
                    hints.append(f"found {PI_ROOT}/{level}/{upstream_readme_name}: the files are read as {name} (the upstream repository's layout); move it there.")
    return list(dict.fromkeys(hints))


def locate(
    data_dir: str | os.PathLike | None,
    required: Iterable[str],
    downloadable: Iterable[str] = (),
    download: Downloader | None = None,
    config_name: str = "",
) -> dict[str, Path]:
    """Paths of a config's files, found in ``data_dir`` or downloaded; one error lists all missing.

    ``required`` keys must be present in data_dir unless they are also in ``downloadable``
    and ``download`` is given, in which case they are fetched and checked against the pinned sha256.
    """
    required = list(dict.fromkeys(required))
    downloadable = set(downloadable)
    if data_dir is not None and not Path(data_dir).is_dir():
        raise MissingFilesError(
            f"data_dir {data_dir} does not exist or is not a directory. Pass the folder that holds the "
            f"ImageNet tarballs (e.g. ILSVRC2012_img_val.tar)."
        )
    found = {key: find(data_dir, SOURCES[key]) for key in required}
    absent = [key for key, path in found.items() if path is None]
    cannot_fetch = [key for key in absent if key not in downloadable or SOURCES[key].url is None or download is None]
    hints = layout_hints(data_dir, absent)  # a misplaced file is moved, not downloaded again
    if cannot_fetch or hints:
        where = f"in data_dir {data_dir}" if data_dir is not None else "(no data_dir was given)"
        raise MissingFilesError(
            f"{config_name or 'This config'} needs {len(absent)} file(s) that are missing {where}:\n"
            f"{describe_missing(absent)}\n"
            + "".join(f"Hint: {h}\n" for h in hints)
            + "Put them in data_dir (metadata files with a URL are downloaded automatically when "
            "the other files are present)."
        )
    for key in absent:
        src = SOURCES[key]
        try:
            path = Path(download(src.url))
        except Exception as exc:  # network errors come in many types; name the file and the way out
            raise MissingFilesError(
                f"{src.names[0]} is not in data_dir {data_dir} and downloading it from {src.url} failed "
                f"({type(exc).__name__}: {exc}). Download it yourself and put it in data_dir as {src.names[0]}."
            ) from exc
        check_sha256(path, src)
        found[key] = path
    return {key: path for key, path in found.items() if path is not None}
