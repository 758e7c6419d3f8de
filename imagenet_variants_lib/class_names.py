"""Human-readable ImageNet class names, the same as the Hub's imagenet-1k, for WNIDs and class indices.

The names are read from ``hf_imagenet1k_classes.json`` in ``data_dir`` when present; otherwise they
are derived from ``class_info.json`` (ImageNetV2 repository; from ``data_dir``, or downloaded and
checked against its pinned sha256): a class is named by its WordNet synset, ``", ".join(synset)``,
and a name that occurs again gets a numeric suffix (the second ``crane``, n03126707, is ``crane2``:
the only repeat among the 1000, and the only difference from the joined synsets).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import parsers, sources
from .errors import MetadataError

HF_CLASSES_FILE = "hf_imagenet1k_classes.json"


def _download(url: str) -> str:
    """Fetch ``url`` into the datasets download cache (honours HF_DATASETS_OFFLINE)."""
    from datasets.utils.file_utils import cached_path

    return cached_path(url)


def class_names(data_dir: str | os.PathLike | None = None, download: sources.Downloader | None = None) -> dict[str, str]:
    """WNID -> unique human-readable name, for the 1000 classes in sorted-WNID (class index) order.

    ``download(url) -> local path`` fetches ``class_info.json`` when it is not in ``data_dir``
    (default: the datasets download cache); the file is refused if its sha256 is not the pinned one.
    """
    if data_dir is not None and Path(data_dir, HF_CLASSES_FILE).is_file():
        return _read_hf_classes(Path(data_dir, HF_CLASSES_FILE))
    files = sources.locate(data_dir, ["class_info"], downloadable=["class_info"], download=download or _download, config_name="Class names")
    return names_from_class_info(files["class_info"])


def id2label(data_dir: str | os.PathLike | None = None, download: sources.Downloader | None = None) -> dict[int, str]:
    """Class index -> name, for ``transformers`` model configs (``id2label=...``)."""
    names = class_names(data_dir, download)
    return {i: names[wnid] for i, wnid in enumerate(sorted(names))}


def label2id(data_dir: str | os.PathLike | None = None, download: sources.Downloader | None = None) -> dict[str, int]:
    """Name -> class index, the inverse of :func:`id2label`."""
    return {name: i for i, name in id2label(data_dir, download).items()}


def names_from_class_info(path: str | os.PathLike) -> dict[str, str]:
    """Unique names from ``class_info.json`` (a list of ``{"cid", "wnid", "synset", "gloss"}``)."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: not valid JSON ({exc}). Download class_info.json again from {sources.SOURCES['class_info'].url}.") from exc
    if not isinstance(entries, list) or len(entries) != parsers.NUM_CLASSES:
        raise MetadataError(f"{path}: expected a JSON list of {parsers.NUM_CLASSES} classes, found {type(entries).__name__} of length {len(entries) if isinstance(entries, (list, dict)) else '-'}.")
    synsets = {}
    for i, entry in enumerate(entries):
        wnid, synset = (entry.get("wnid"), entry.get("synset")) if isinstance(entry, dict) else (None, None)
        if not isinstance(wnid, str) or not isinstance(synset, list) or not synset or not all(isinstance(s, str) for s in synset):
            raise MetadataError(f"{path}, entry {i}: expected {{\"wnid\": \"n01440764\", \"synset\": [names, ...]}}, found {entry!r}.")
        synsets[wnid] = ", ".join(synset)
    if len(synsets) != parsers.NUM_CLASSES:
        raise MetadataError(f"{path}: expected {parsers.NUM_CLASSES} distinct WNIDs, found {len(synsets)}.")
    names, used = {}, set()
    for wnid in sorted(synsets):  # class index order; later repeats get a suffix
        name, k = synsets[wnid], 1
        while name in used:
            k += 1
            name = f"{synsets[wnid]}{k}"
        names[wnid] = name
        used.add(name)
    return names


def _read_hf_classes(path: Path) -> dict[str, str]:
    """``hf_imagenet1k_classes.json``: a JSON object of 1000 WNID -> distinct name."""
    try:
        with open(path, encoding="utf-8") as f:
            names = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: not valid JSON ({exc}). Delete it to derive the names from class_info.json.") from exc
    ok = isinstance(names, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in names.items())
    if not ok or len(names) != parsers.NUM_CLASSES or len(set(names.values())) != parsers.NUM_CLASSES:
        raise MetadataError(
            f"{path}: expected a JSON object of {parsers.NUM_CLASSES} WNIDs to distinct names "
            f'({{"n01440764": "tench, Tinca tinca", ...}}). Fix it, or delete it to derive the names from class_info.json.'
        )
    return {wnid: names[wnid] for wnid in sorted(names)}
