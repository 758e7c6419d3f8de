"""``verify_config``: are a config's files all there, well-formed, complete, and (optionally) the published ones?

Checks, without preparing anything: every file is present (one list of all missing ones); the tars
are plain, readable tars (headers only: the train tar's 1000 inner tars are walked in place, never
extracted); the metadata files parse and match the tar's images (the same checks as preparation);
how many images each split gets against the size of the complete data; and with ``checksums=True``
the md5 of each tarball against the published one and the sha256 of each metadata file against the
pinned one. Fewer images than the full size is reported, not an error (partial data is supported).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import archives, join, parsers, sources
from .annotations import Metadata
from .errors import ImagenetVariantsError, MetadataError, MissingFilesError

# Images per split of the complete data: FORMATS.md (ILSVRC-2012 split sizes; real.json has 50,000
# entries; multilabel v3.0.0: 20,000 validation images and the 68 of ImageNet-M; ImageNet-PI labels
# every train and validation image).
FULL_SIZE: dict[str, dict[str, int]] = {
    "imagenet2012": {"train": 1_281_167, "validation": 50_000, "test": 100_000},
    "real": {"validation": 50_000},
    "multilabel": {"validation": 20_000, "imagenet_m": 68},
    "pi_low_noise": {"train": 1_281_167, "validation": 50_000},
    "pi_high_noise": {"train": 1_281_167, "validation": 50_000},
}
_CHUNK = 8 << 20


@dataclass
class SplitRow:
    """One split: its tarball, how many images the config takes from it, and the complete count."""

    split: str
    file: str | None  # the tarball's path; None when it is missing
    images: int | None  # None when it could not be counted (see the report's problems)
    full_size: int
    note: str = ""


@dataclass
class ChecksumRow:
    """One file's digest against the published (tarballs, md5) or pinned (metadata, sha256) value."""

    file: str
    algorithm: str
    expected: str | None
    actual: str | None = None

    @property
    def status(self) -> str:
        if self.expected is None:
            return f"no published {self.algorithm}"
        return "ok" if self.actual == self.expected else "MISMATCH"


@dataclass
class VerifyReport:
    """The outcome: ``ok`` is False when a file is missing or malformed or a checksum differs."""

    config: str
    data_dir: str
    ok: bool
    splits: list[SplitRow] = field(default_factory=list)
    checksums: list[ChecksumRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def format(self) -> str:
        """A readable report: the split table, the checksum table, then problems and notes."""
        lines = [f"verify {self.config} in {self.data_dir}: " + ("OK" if self.ok else f"FAILED ({len(self.problems)} problem(s))"), ""]
        lines += _table(
            ["split", "file", "images", "full size", "note"],
            [[r.split, self._name(r.file) if r.file else "(missing)", ("?" if r.file else "-") if r.images is None else f"{r.images:,}", f"{r.full_size:,}", r.note] for r in self.splits],
            right={2, 3},
        )
        if self.checksums:
            lines += [""] + _table(
                ["file", "algorithm", "result", "digest"],
                [[self._name(c.file), c.algorithm, c.status, c.actual or ""] for c in self.checksums],
            )
        if self.problems:
            lines += ["", "Problems:"] + [f"  - {p}".replace("\n", "\n    ") for p in self.problems]
        if any(r.images is not None and r.images < r.full_size for r in self.splits):
            lines += ["", "Note: some splits hold fewer images than the complete data; that is fine for partial data."]
        return "\n".join(lines)

    def _name(self, path: str) -> str:
        """``path`` relative to data_dir (imagenet_pi/low_noise/labels/train.csv), else as given."""
        rel = os.path.relpath(path, self.data_dir)
        return path if rel.startswith("..") else rel


def _table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    """Columns padded to their widest cell; columns in ``right`` right-aligned (numbers)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header)] + [line(r) for r in rows]


def verify_config(config: str, data_dir: str | os.PathLike, checksums: bool = False) -> VerifyReport:
    """Check the files of ``config`` in ``data_dir``; ``checksums=True`` also hashes every byte (slow)."""
    from imagenet_variants import CONFIGS  # the root module imports this package

    cfg = {c.name: c for c in CONFIGS}.get(config)
    if cfg is None:
        raise ValueError(f"Unknown config {config!r}; choose one of {', '.join(FULL_SIZE)}.")
    splits = dict(cfg.splits)
    if cfg.optional_splits:  # as the builder: a split for each tarball present
        splits = {n: s for n, s in splits.items() if sources.find(data_dir, sources.SOURCES[s.archive])} or splits
    needs = list(dict.fromkeys(["labels", *(k for s in splits.values() for k in s.needs)]))

    problems: list[str] = []
    try:
        files = sources.locate(data_dir, needs, config_name=f"Config {config!r}")
    except MissingFilesError as exc:
        problems.append(str(exc))
        files = {k: p for k in needs if (p := sources.find(data_dir, sources.SOURCES[k])) is not None}

    meta = None
    if "labels" in files:
        try:
            meta = Metadata(files, parsers.read_class_list(files["labels"]))
        except ImagenetVariantsError as exc:
            problems.append(str(exc))
    rows = [_check_split(name, spec, FULL_SIZE[config][name], files, meta, problems) for name, spec in splits.items()]
    rows += [SplitRow(n, None, None, FULL_SIZE[config][n], "tarball not in data_dir: split skipped (optional)") for n in cfg.splits if n not in splits]
    present = sorted((k for k in needs if k in files), key=lambda k: k not in join.ARCHIVE_SHAPES)  # tarballs first
    sums = _checksums(present, files, problems) if checksums else []
    return VerifyReport(config, str(data_dir), not problems, rows, sums, problems)


def _check_split(name: str, spec: join.SplitSpec, full_size: int, files: dict, meta: Metadata | None, problems: list[str]) -> SplitRow:
    """Count the images split ``name`` takes from its tarball, running the preparation's checks on the way."""
    archive = files.get(spec.archive)
    row = SplitRow(name, str(archive) if archive else None, None, full_size)
    if archive is None:
        row.note = "tarball missing"
        return row
    notes = []
    try:
        if meta is not None and all(k in files for k in spec.needs):
            try:
                row.images = _count(spec, meta, str(archive))
            except MetadataError as exc:
                problems.append(str(exc))
                notes.append("metadata does not match (see problems)")
        else:
            notes.append("metadata missing: images counted, not matched")
        if row.images is None:
            row.images = _count_members(spec, str(archive))
    except ImagenetVariantsError as exc:
        problems.append(str(exc))
        row.note = "tarball not readable (see problems)"
        return row
    if row.images < full_size:
        notes.append("partial data")
    elif row.images > full_size:
        notes.append("more images than the full split")
    row.note = "; ".join(notes)
    return row


def _count(spec: join.SplitSpec, meta: Metadata, archive: str) -> int:
    """Images of the split, through ``join.plan`` (index, metadata checks) plus the inner train tars."""
    shards = join.plan(spec, meta, archive)
    if join.ARCHIVE_SHAPES[spec.archive] is archives.FlatTar:
        return sum(len(s.members) for s in shards)
    count, unlisted = 0, []
    for shard in shards:
        names = _inner_names(shard)
        if shard.rows is not None:  # rows of this class: every image needs one (or, only_listed, counts if it has one)
            listed = set(shard.rows.column("file_name").to_pylist())
            unlisted += [n for n in names if n not in listed]
            names = [n for n in names if n in listed] if spec.only_listed else names
        count += len(names)
    if unlisted and not spec.only_listed:
        raise join.missing_rows_error(archive, unlisted, join.rows_file(spec, meta))
    return count


def _count_members(spec: join.SplitSpec, archive: str) -> int:
    """Images in the tarball, without metadata."""
    if join.ARCHIVE_SHAPES[spec.archive] is archives.FlatTar:
        return len(archives.FlatTar.members(archive))
    return sum(len(_inner_names(s)) for s in archives.TarOfTars.shards(archive))


def _inner_names(shard: archives.Shard) -> list[str]:
    """Member names of one inner train tar, read from its headers in place (image data is skipped)."""
    with open(shard.archive, "rb") as f:
        return [m.name for m in archives.TarOfTars.walk(shard, f)]


def _checksums(keys: list[str], files: dict[str, Path], problems: list[str]) -> list[ChecksumRow]:
    """md5 of the tarballs and sha256 of the metadata, with one progress bar over all bytes."""
    from datasets.utils.tqdm import tqdm

    rows = []
    for key in keys:
        src = sources.SOURCES[key]
        is_tar = key in join.ARCHIVE_SHAPES
        rows.append(ChecksumRow(str(files[key]), "md5" if is_tar else "sha256", src.md5 if is_tar else src.sha256))
    todo = [r for r in rows if r.expected is not None]
    with tqdm(total=sum(os.path.getsize(r.file) for r in todo), unit="B", unit_scale=True, unit_divisor=1024, desc="Checksums") as bar:
        for r in todo:
            digest = hashlib.new(r.algorithm)
            with open(r.file, "rb") as f:
                while block := f.read(_CHUNK):
                    digest.update(block)
                    bar.update(len(block))
            r.actual = digest.hexdigest()
            if r.actual != r.expected:
                what = "published" if r.algorithm == "md5" else "pinned"
                fix = ("re-download it from image-net.org (or re-copy it)" if r.algorithm == "md5"
                       else "delete it (preparation downloads the pinned file) or replace it with the upstream file")
                problems.append(f"{r.file}: {r.algorithm} is {r.actual}, the {what} {r.algorithm} is {r.expected}. The file is corrupt, truncated or another version: {fix}.")
    return rows
