"""Streaming walkers over the two archive shapes of ILSVRC-2012, split into shards for ``num_proc``.

* flat tar (validation, test): one pass over the headers locates every member; a shard is a
  range of members.
* tar of tars (train): one pass over the 1000 outer headers; a shard is one inner per-class tar,
  whose headers are walked in place through a bounded window on the outer file (never extracted,
  never read whole).

Either way a walker only *locates* images (name, offset, size); :func:`read_members` then reads
a batch of them with one seek + readinto each.

Member names are only ever used as keys, never as filesystem paths. Tar order is not assumed.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .errors import ArchiveError

# Images per flat shard: small enough for num_proc to balance (a short tail at the end of a split),
# large enough that a shard's bookkeeping is negligible (200 shards for validation, 400 for test).
FLAT_SHARD_SIZE = 250

_COMPRESSED = {b"\x1f\x8b": ("gzip", "gunzip"), b"BZh": ("bzip2", "bunzip2"), b"\xfd7zXZ": ("xz", "unxz")}


@dataclass(frozen=True)
class Member:
    name: str  # base name of the tar member, e.g. ILSVRC2012_val_00000001.JPEG
    offset: int  # absolute offset of the data in the archive file
    size: int


@dataclass(frozen=True)
class Shard:
    """A unit of work for one process: members of a flat tar, or one inner tar of a tar of tars."""

    archive: str
    members: tuple[Member, ...] = ()  # flat tar
    inner: Member | None = None  # tar of tars: the inner tar
    rows: object = field(default=None, compare=False)  # this shard's slice of the annotations

    @property
    def group(self) -> str | None:
        """The inner tar's stem (the WNID of a train class tar)."""
        return self.inner.name[: -len(".tar")] if self.inner else None


def check_plain_tar(path: str) -> None:
    """Refuse compressed or non-tar files with a message that says what to do."""
    with open(path, "rb") as f:
        head = f.read(512)
    for magic, (kind, tool) in _COMPRESSED.items():
        if head.startswith(magic):
            raise ArchiveError(
                f"{path} is {kind}-compressed, but the ILSVRC-2012 tarballs are plain tar. "
                f"Decompress it first (`{tool} -k {os.path.basename(path)}` and keep the .tar name), "
                f"or use the original file from image-net.org."
            )
    if len(head) < 512 or head[257:262] != b"ustar":
        raise ArchiveError(f"{path} is not a tar archive (no ustar header at its start); it is empty, truncated or another format.")


class _Window(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes of ``f`` starting at ``start``."""

    def __init__(self, f, start: int, size: int):
        self._f, self._start, self._size, self._pos = f, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        n = self._size - self._pos if n is None or n < 0 else min(n, self._size - self._pos)
        if n <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _iter_members(tar: tarfile.TarFile, where: str) -> Iterator[tarfile.TarInfo]:
    """Regular-file members of ``tar``; tar errors become an ArchiveError naming ``where`` and the last member."""
    last = "(before the first member)"
    try:
        for info in tar:
            if info.isfile():
                last = info.name
                yield info
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(
            f"{where}: the archive is truncated or corrupt after member {last} ({type(exc).__name__}: {exc}). "
            f"Re-download or re-copy it; compare its size and md5 with `imagenet-variants verify --checksums`."
        ) from exc
    finally:
        tar.members = []  # keep memory flat while streaming


def index_tar(path: str) -> list[Member]:
    """Every regular file of a tar with its data offset and size, reading only the headers."""
    check_plain_tar(path)
    with tarfile.open(path, mode="r:") as tar:
        members = [Member(posixpath.basename(i.name), i.offset_data, i.size) for i in _iter_members(tar, path)]
    end = os.path.getsize(path)
    for m in members:
        if m.offset + m.size > end:
            raise ArchiveError(f"{path}: member {m.name} runs past the end of the file: the tar is truncated. Re-download or re-copy it.")
    return members


def _chunks(items: list, size: int) -> list[tuple]:
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


class FlatTar:
    """Validation and test tars: flat members."""

    @staticmethod
    def members(path: str) -> list[Member]:
        """The images of the tar, in tar order; a file name that occurs twice is an error."""
        members = index_tar(path)
        seen: set[str] = set()
        for m in members:
            if m.name in seen:
                raise ArchiveError(f"{path}: file name {m.name} occurs twice. Each image must occur once; use the original tar.")
            seen.add(m.name)
        return members

    @staticmethod
    def shards(path: str) -> list[Shard]:
        return [Shard(path, members=chunk) for chunk in _chunks(FlatTar.members(path), FLAT_SHARD_SIZE)]

    @staticmethod
    def locate(shard: Shard, f) -> Iterator[Member]:
        """The members of the shard (their places are known from the index)."""
        return iter(shard.members)


class TarOfTars:
    """The train tar: one inner tar per class, named ``<wnid>.tar``."""

    @staticmethod
    def shards(path: str) -> list[Shard]:
        members = index_tar(path)
        not_tars = [m.name for m in members if not m.name.endswith(".tar")]
        if not_tars:
            raise ArchiveError(
                f"{path}: expected only per-class tars (n01440764.tar, ...) inside the train tar, found "
                f"{len(not_tars)} other member(s), e.g. {', '.join(not_tars[:3])}. Use the original ILSVRC2012_img_train.tar."
            )
        return [Shard(path, inner=m) for m in members]

    @staticmethod
    def locate(shard: Shard, f) -> Iterator[Member]:
        """Every image of one inner tar, located by walking its headers in place inside the open outer tar ``f``."""
        where = f"{shard.archive} -> {shard.inner.name}"
        window = _Window(f, shard.inner.offset, shard.inner.size)
        try:
            tar = tarfile.open(fileobj=window, mode="r:")
        except tarfile.TarError as exc:
            raise ArchiveError(f"{where}: not a readable tar ({exc}). The train tar is corrupt; re-download or re-copy it.") from exc
        seen: set[str] = set()
        for info in _iter_members(tar, where):
            name = posixpath.basename(info.name)
            if not name.startswith(f"{shard.group}_"):
                raise ArchiveError(
                    f"{where}: member {name} is not an image of class {shard.group} (train images are named "
                    f"{shard.group}_<number>.JPEG). Rebuild the inner tar from the original train tar."
                )
            if name in seen:
                raise ArchiveError(f"{where}: file name {name} occurs twice. Each image must occur once; rebuild the inner tar from the original.")
            seen.add(name)
            if info.offset_data + info.size > shard.inner.size:
                raise ArchiveError(f"{where}: member {name} runs past the end of the inner tar: it is truncated. Re-download or re-copy the train tar.")
            yield Member(name, shard.inner.offset + info.offset_data, info.size)


def read_members(f, members: list[Member], where: str) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of ``members`` read from the raw file ``f`` into one buffer, and their offsets in it.

    One ``readinto`` per image straight into the buffer that becomes the Arrow column: no copies.
    """
    offsets = np.zeros(len(members) + 1, dtype=np.int64)
    np.cumsum([m.size for m in members], out=offsets[1:])
    buffer = np.empty(int(offsets[-1]), dtype=np.uint8)
    view = memoryview(buffer)
    for m, start in zip(members, offsets[:-1].tolist()):
        f.seek(m.offset)
        got, end = 0, start + m.size
        while start + got < end:
            n = f.readinto(view[start + got : end])
            if not n:
                raise ArchiveError(f"{where}: member {m.name} is truncated ({got} of {m.size} bytes). Re-download or re-copy the tar.")
            got += n
    return buffer, offsets
