"""Per-split annotation tables: parsed metadata turned into ``file_name`` + feature columns.

Each function takes the :class:`Metadata` of one preparation (located files, class index, and a
cache so that a file shared by two splits is parsed once) and returns a ``pyarrow.Table``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa

from . import parsers
from .sources import pi_key


@dataclass
class Metadata:
    """The located files of one preparation and the class index; parses each file once."""

    files: dict[str, Path]
    wnids: list[str]
    _cache: dict = field(default_factory=dict, repr=False)

    @functools.cached_property
    def class_index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}

    def parsed(self, key: str, parser: Callable, *args):
        """``parser(path_of(key), *args)``, memoized for this preparation."""
        if key not in self._cache:
            self._cache[key] = parser(self.files[key], *args)
        return self._cache[key]

    def validation_labels(self) -> dict[str, int]:
        return self.parsed("validation_labels", parsers.read_validation_labels, self.class_index)


def _table(names, **columns) -> pa.Table:
    return pa.table({"file_name": pa.array(list(names), pa.string()), **columns})


def real(meta: Metadata) -> pa.Table:
    """``real`` validation: ReaL labels of all 50,000 images (empty lists kept)."""
    real_labels = meta.parsed("real_json", parsers.read_real)
    return _table(real_labels, real_label=pa.array(list(real_labels.values()), pa.list_(pa.int64())))


def _multilabel(meta: Metadata, imagenet_m_only: bool) -> pa.Table:
    annotations, imagenet_m = meta.parsed("multilabel_json", parsers.read_multilabel, meta.class_index)
    names = imagenet_m if imagenet_m_only else list(annotations)
    rows = [annotations[n] for n in names]
    ints = pa.list_(pa.int64())
    return _table(
        names,
        correct_multi_labels=pa.array([r.correct for r in rows], ints),
        wrong_multi_labels=pa.array([r.wrong for r in rows], ints),
        unclear_multi_labels=pa.array([r.unclear for r in rows], ints),
        is_problematic=pa.array([r.is_problematic for r in rows], pa.bool_()),
    )


def multilabel_validation(meta: Metadata) -> pa.Table:
    """``multilabel`` validation: the annotated validation images (20,000 in the real file)."""
    return _multilabel(meta, imagenet_m_only=False)


def multilabel_imagenet_m(meta: Metadata) -> pa.Table:
    """``multilabel`` imagenet_m: the 68 ImageNet-Major images."""
    return _multilabel(meta, imagenet_m_only=True)


def pi(level: str, split: str, meta: Metadata) -> pa.Table:
    """ImageNet-PI ``level`` (low_noise/high_noise) ``split``: 16 annotator labels and confidences per image."""
    return parsers.read_pi(meta.files[pi_key(level, "labels", split)], meta.files[pi_key(level, "confidences", split)])
