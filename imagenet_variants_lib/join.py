"""The join of a split: images streamed out of a tarball, matched by file name to annotation rows.

:func:`plan` runs before anything is written: it indexes the tarball, checks every image against
the metadata, and cuts the work into shards, each carrying only its own slice of the annotations
(so ``num_proc`` workers receive small pickles). :func:`generate_tables` walks the shards and
yields Arrow tables whose image column is the buffer the bytes were read into.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .annotations import Metadata
from .archives import FLAT_SHARD_SIZE, FlatTar, Member, Shard, TarOfTars, _chunks
from .errors import ArchiveError, ImageError, MetadataError
from .images import is_rgb_jpeg, to_rgb_jpeg

logger = logging.getLogger(__name__)

# How the original class of an image is known (FORMATS.md): the name of its train class tar,
# the validation labels file, or not at all (test: -1, as TFDS).
LABEL_FROM_TAR, LABEL_FROM_VALIDATION_FILE, NO_LABEL = "tar", "validation_labels", "none"
# Which walker reads which tarball.
ARCHIVE_SHAPES = {"train_tar": TarOfTars, "val_tar": FlatTar, "test_tar": FlatTar}


@dataclass(frozen=True)
class SplitSpec:
    """What one split of one config is made of."""

    archive: str  # source key of the tarball
    label_column: str  # feature that holds the original class
    label_from: str = NO_LABEL
    rows: Callable[[Metadata], pa.Table] | None = None  # extra columns, keyed by file_name
    metadata: tuple[str, ...] = ()  # source keys that ``rows`` reads
    only_listed: bool = False  # keep only the images that have a row (else: every image needs one)

    @property
    def needs(self) -> tuple[str, ...]:
        """Source keys of every file this split reads."""
        labels = ("validation_labels",) if self.label_from == LABEL_FROM_VALIDATION_FILE else ()
        return (self.archive, *self.metadata, *labels)


def examples_of(names: list[str], limit: int = 5) -> str:
    """The first few of ``names`` in sorted order, for an error message."""
    names = sorted(names)
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def rows_file(spec: SplitSpec, meta: Metadata) -> str:
    """The metadata file(s) a split's rows come from, for error messages."""
    return " + ".join(str(meta.files[k]) for k in spec.metadata) or "the metadata"


def missing_rows_error(archive: str, missing: list[str], rows_from: str) -> MetadataError:
    """The error for images of ``archive`` that have no row in their metadata."""
    return MetadataError(
        f"{len(missing)} image(s) of {archive} have no row in {rows_from} (e.g. {examples_of(missing)}). "
        f"Use the metadata files of the same split and version."
    )


def _flat_table(spec: SplitSpec, meta: Metadata, archive: str, names: list[str]) -> tuple[list[str], pa.Table]:
    """Rows of a flat tar's images in tar order (the images kept, and their table)."""
    table = spec.rows(meta) if spec.rows else None
    if table is not None:
        index = dict(zip(table.column("file_name").to_pylist(), range(table.num_rows)))
        if spec.only_listed:
            names = [n for n in names if n in index]
        else:
            missing = [n for n in names if n not in index]
            if missing:
                raise missing_rows_error(archive, missing, rows_file(spec, meta))
        table = table.take(pa.array([index[n] for n in names], pa.int64()))
    else:
        table = pa.table({"file_name": pa.array(names, pa.string())})
    if spec.label_from == LABEL_FROM_VALIDATION_FILE:
        labels = meta.validation_labels()
        missing = [n for n in names if n not in labels]
        if missing:
            raise MetadataError(
                f"{archive}: {len(missing)} member(s) are not in the validation labels {meta.files['validation_labels']} "
                f"(e.g. {examples_of(missing)}). Validation images are named ILSVRC2012_val_%08d.JPEG (8 digits); "
                f"use the original ILSVRC2012_img_val.tar."
            )
        label = pa.array([labels[n] for n in names], pa.int64())
    else:
        label = pa.array(np.full(len(names), -1, dtype=np.int64))
    return names, table.append_column(spec.label_column, label)


def _plan_flat(spec: SplitSpec, meta: Metadata, archive: str) -> list[Shard]:
    by_name = {m.name: m for m in FlatTar.members(archive)}
    names, table = _flat_table(spec, meta, archive, list(by_name))
    members = [by_name[n] for n in names]
    return [
        Shard(archive, members=chunk, rows=table.slice(i * FLAT_SHARD_SIZE, len(chunk)))
        for i, chunk in enumerate(_chunks(members, FLAT_SHARD_SIZE))
    ]


def _plan_tar_of_tars(spec: SplitSpec, meta: Metadata, archive: str) -> list[Shard]:
    shards = TarOfTars.shards(archive)
    unknown = [s.inner.name for s in shards if s.group not in meta.class_index]
    if unknown:
        raise ArchiveError(
            f"{archive}: {len(unknown)} inner tar(s) are not named after a WNID of {meta.files['labels']} "
            f"(e.g. {examples_of(unknown)}). The train tar holds n01440764.tar ... n15075141.tar; use the original."
        )
    table = spec.rows(meta) if spec.rows else None
    if table is None:
        return shards
    # Train file names start with their class WNID (n01440764_10026.JPEG): group rows by it.
    table = table.take(pc.sort_indices(table.column("file_name")))
    prefixes = pc.utf8_slice_codeunits(table.column("file_name"), 0, 9).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, prefixes[1:] != prefixes[:-1]]) if len(prefixes) else np.array([], int)
    ends = np.r_[starts[1:], len(prefixes)]
    ranges = {prefixes[s]: (s, e) for s, e in zip(starts, ends)}
    empty = table.slice(0, 0)
    return [
        Shard(s.archive, inner=s.inner, rows=table.slice(ranges[s.group][0], ranges[s.group][1] - ranges[s.group][0]) if s.group in ranges else empty)
        for s in shards
    ]


def plan(spec: SplitSpec, meta: Metadata, archive: str) -> list[Shard]:
    """Index ``archive``, check its images against the metadata, and cut it into shards with their rows."""
    planner = _plan_tar_of_tars if ARCHIVE_SHAPES[spec.archive] is TarOfTars else _plan_flat
    return planner(spec, meta, archive)


def group_for_jobs(shards: list[Shard], jobs: int | None) -> list[list[Shard]]:
    """``shards`` in ``jobs`` consecutive groups of about equal bytes: the jobs of ``num_proc`` workers.

    Class tars differ in size (732 to 1,300 images per class in ILSVRC-2012, Russakovsky et al.
    2015), so the groups are cut by bytes, not by count: each shard goes to the group its middle
    byte falls into. Tar order is kept, so the rows come out in the same order with any
    ``num_proc``. Without ``jobs``: one group per shard (the units of a streamed split).
    """
    if not jobs:
        return [[s] for s in shards]
    sizes = np.array([s.nbytes for s in shards], dtype=np.float64)
    middles = np.cumsum(sizes) - sizes / 2
    group = np.minimum((middles * jobs / max(sizes.sum(), 1)).astype(np.int64), jobs - 1)
    groups: list[list[Shard]] = [[] for _ in range(jobs)]
    for shard, g in zip(shards, group.tolist()):
        groups[g].append(shard)
    return [g for g in groups if g]


# A batch becomes one Arrow table. Measured in benchmarks/bench_prepare.py: batches of a few MB
# are about twice as fast as 64 MB ones (the allocator reuses their memory instead of mapping and
# faulting in fresh pages for every batch), and keep peak RSS lower.
BATCH_IMAGES = 40
BATCH_BYTES = 4 << 20


class _Batch:
    """The images of one Arrow table, read one after the other into one buffer."""

    def __init__(self, first: Member):
        self.buffer = np.empty(max(BATCH_BYTES, first.size), dtype=np.uint8)
        self.members: list[Member] = []
        self.used = 0

    def __len__(self) -> int:
        return len(self.members)

    def fits(self, member: Member) -> bool:
        return len(self.members) < BATCH_IMAGES and self.used + member.size <= len(self.buffer)

    def add(self, member: Member) -> memoryview:
        """The part of the buffer ``member``'s bytes go to."""
        view = memoryview(self.buffer)[self.used : self.used + member.size]
        self.members.append(member)
        self.used += member.size
        return view

    def offsets(self) -> np.ndarray:
        offsets = np.zeros(len(self.members) + 1, dtype=np.int64)
        np.cumsum([m.size for m in self.members], out=offsets[1:])
        return offsets


def _image_column(buffer: np.ndarray, offsets: np.ndarray, members: list[Member], where: str, skip_unreadable: bool) -> tuple[pa.Array, list[int]]:
    """The ``image`` struct column of a batch (bytes as read, odd images converted) and the kept positions."""
    view, fixed, dropped = memoryview(buffer), {}, []
    starts, ends = offsets[:-1].tolist(), offsets[1:].tolist()
    for i, (m, a, b) in enumerate(zip(members, starts, ends)):
        if is_rgb_jpeg(view[a:b]):
            continue
        try:
            fixed[i] = to_rgb_jpeg(bytes(view[a:b]), f"{where}: {m.name}")
        except ImageError:
            if not skip_unreadable:
                raise
            dropped.append(i)
    dropped_set = set(dropped)
    kept = [i for i in range(len(members)) if i not in dropped_set]
    if not fixed and not dropped:  # the usual case: the read buffer *is* the column
        data = pa.Array.from_buffers(pa.binary(), len(members), [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(buffer)])
    else:
        data = pa.array([fixed.get(i) or bytes(view[starts[i] : ends[i]]) for i in kept], pa.binary())
    image = pa.StructArray.from_arrays([data, pa.nulls(len(kept), pa.string())], names=["bytes", "path"])
    return image, kept


def generate_tables(
    shards: list[Shard],
    spec: SplitSpec,
    class_index: dict[str, int],
    rows_from: str,
    schema: pa.Schema,
    skip_unreadable_images: bool = False,
) -> Iterator[tuple[str, pa.Table]]:
    """(key, table of up to BATCH_IMAGES images) for ``shards``; rows are in tar order, ``file_name`` the original name."""
    shape = ARCHIVE_SHAPES[spec.archive]
    missing, skipped = [], []
    for shard in shards:
        rows = shard.rows
        index = dict(zip(rows.column("file_name").to_pylist(), range(rows.num_rows))) if rows is not None else None
        extra = [c for c in rows.column_names if c != "file_name"] if rows is not None else []
        label = class_index[shard.group] if spec.label_from == LABEL_FROM_TAR else None

        def table(batch: _Batch, where: str) -> pa.Table:
            image, kept = _image_column(batch.buffer[: batch.used], batch.offsets(), batch.members, where, skip_unreadable_images)
            if len(kept) < len(batch):
                kept_set = set(kept)
                skipped.extend(m.name for i, m in enumerate(batch.members) if i not in kept_set)
            names = [batch.members[i].name for i in kept]
            columns = {"image": image, "file_name": pa.array(names, pa.string())}
            if rows is not None:
                picked = rows.take(pa.array([index[n] for n in names], pa.int64()))
                columns.update({c: picked.column(c).combine_chunks().cast(schema.field(c).type) for c in extra})
            if label is not None:
                columns[spec.label_column] = pa.array(np.full(len(names), label, dtype=np.int64))
            return pa.Table.from_arrays([columns[field.name] for field in schema], schema=schema)

        with open(shard.archive, "rb", buffering=0) as f:
            walk, batch, number = shape.walk(shard, f), None, 0
            where = walk.where  # the tar, or "outer tar -> inner tar", as in the walker's own errors
            for member in walk:
                if index is not None and member.name not in index:
                    if not spec.only_listed:
                        missing.append(member.name)
                    continue  # not read: the walk skips over it
                if batch is None or not batch.fits(member):
                    if batch:
                        yield f"{where}#{number}", table(batch, where)
                        number += 1
                    batch = _Batch(member)
                walk.read(member, batch.add(member))
            if batch:
                yield f"{where}#{number}", table(batch, where)
    if skipped:
        logger.warning("Skipped %d unreadable image(s) (skip_unreadable_images=True): %s", len(skipped), examples_of(skipped))
    if missing:
        raise missing_rows_error(shards[0].archive, missing, rows_from)
