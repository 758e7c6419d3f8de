"""Tar headers parsed straight from a file descriptor: the walker under both archive shapes.

``tarfile`` costs ~25 microseconds and four or five system calls per member (seek, header read,
Python-level parsing), a quarter of the whole preparation per image. :class:`TarWalk` reads each
512-byte header with one ``pread``, or with no call of its own: :meth:`TarWalk.read` fetches a
member's data *and* the header that follows it in one ``preadv``. It understands what ``tarfile``
does for reading regular files (POSIX ustar, GNU and pax formats: GNU long names, pax ``path`` and
``size``, base-256 numbers, both checksum conventions), and is stricter where ``tarfile`` is
lenient: a damaged header in the middle of an archive is an error, not a silent end of the archive.

Format reference: POSIX.1-2001 pax/ustar and GNU tar's ``tar.h`` (the layout ``tarfile`` follows).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Iterator

from .errors import ArchiveError

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_REGULAR = frozenset(b"0\x007")  # REGTYPE, AREGTYPE, CONTTYPE: tarfile's isfile()
_NO_DATA = frozenset(b"123456")  # links, devices, directories, FIFOs: their size field is not data (as tarfile)
_GNU_LONGNAME, _GNU_LONGLINK, _GNU_SPARSE, _PAX, _PAX_GLOBAL = (ord(c) for c in "LKSxg")
_POSIX_MAGIC = b"ustar\x0000"


@dataclass(frozen=True)
class Member:
    name: str  # base name of the tar member, e.g. ILSVRC2012_val_00000001.JPEG
    offset: int  # absolute offset of the data in the archive file
    size: int


def padded(size: int) -> int:
    """Bytes a member's data occupies in the archive (whole blocks)."""
    return -(-size // BLOCK) * BLOCK


def _number(field: bytes) -> int | None:
    """A numeric header field: octal text, or GNU base-256 (first byte 0x80); None if malformed."""
    if field[0] == 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        return None


def _checksum_ok(header: bytes) -> bool:
    """The stored checksum matches the header summed with its checksum field as spaces (unsigned or signed bytes)."""
    stored = _number(header[148:156])
    unsigned = sum(header) - sum(header[148:156]) + 8 * 0x20
    if stored == unsigned:
        return True
    return stored == unsigned - 256 * sum(1 for b in header if b >= 0x80) + 256 * sum(1 for b in header[148:156] if b >= 0x80)


def _pax_records(data: bytes) -> dict[str, str]:
    """``"<len> <key>=<value>\\n"`` records of a pax extended header."""
    records, pos = {}, 0
    while pos < len(data) and data[pos] != 0:
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


class TarWalk:
    """The regular files of the tar occupying bytes ``[start, end)`` of the open file ``f``, in tar order.

    Iterating yields a :class:`Member` per regular file (directories, links and the like are passed
    over). Before asking for the next member, the caller may :meth:`read` the current one; a member
    not read is skipped (only headers are read). ``where`` names the archive in error messages.
    """

    def __init__(self, f, start: int, end: int, where: str):
        self._fd, self._start, self._end, self.where = f.fileno(), start, end, where
        self._header: bytes | None = None  # the next header, when read together with the data before it
        self._current: Member | None = None
        self._scratch = bytearray(2 * BLOCK)
        self.last = "(before the first member)"

    def _broken(self, what: str) -> ArchiveError:
        return ArchiveError(
            f"{self.where}: the archive is truncated or corrupt after member {self.last} ({what}). "
            f"Re-download or re-copy it; compare its size and md5 with `imagenet-variants verify --checksums`."
        )

    def _pread(self, size: int, offset: int) -> bytes:
        if offset + size > self._end:
            raise self._broken(f"{size} bytes at offset {offset - self._start} run past its end")
        data = pread(self._fd, size, offset)
        if len(data) < size:
            raise self._broken(f"the file ends at offset {offset + len(data) - self._start}")
        return data

    def __iter__(self) -> Iterator[Member]:
        pos, long_name, pax, pax_global = self._start, None, {}, {}
        while True:
            header, self._header = self._header, None
            if header is None:
                if pos >= self._end:  # no end-of-archive blocks: tarfile ends there too
                    return
                header = pread(self._fd, min(BLOCK, self._end - pos), pos)
            if len(header) < BLOCK:
                if not header:
                    return
                raise self._broken(f"a partial header at offset {pos - self._start}")
            if header == _ZERO_BLOCK:
                return
            size = _number(header[124:136])
            if size is None or not _checksum_ok(header):
                raise self._broken(f"no valid tar header at offset {pos - self._start}")
            kind, data = header[156], pos + BLOCK
            if kind in (_GNU_LONGNAME, _GNU_LONGLINK, _PAX, _PAX_GLOBAL):
                payload = self._pread(size, data)
                try:
                    if kind == _GNU_LONGNAME:
                        long_name = payload.split(b"\0", 1)[0]
                    elif kind == _PAX:
                        pax = _pax_records(payload)
                    elif kind == _PAX_GLOBAL:
                        pax_global.update(_pax_records(payload))
                except ValueError:
                    raise self._broken(f"a malformed pax header at offset {pos - self._start}") from None
                pos = data + padded(size)
                continue
            info = {**pax_global, **pax}
            name = self._name(header, long_name, info)
            if "size" in info:
                if not info["size"].isdigit():
                    raise self._broken(f"a pax size {info['size']!r} at offset {pos - self._start}")
                size = int(info["size"])
            long_name, pax = None, {}
            if kind == _GNU_SPARSE or any(k.startswith("GNU.sparse.") for k in info):
                raise ArchiveError(f"{self.where}: member {name} is a sparse file, which ILSVRC-2012 tarballs never hold. Use the original tar.")
            is_file = kind in _REGULAR and not name.endswith("/")  # "name/" as a regular file: an old-style directory
            if is_file:
                if data + size > self._end:
                    raise self._broken(f"member {posixpath.basename(name)} runs past the end: it is truncated")
                member = self._current = Member(posixpath.basename(name), data, size)
                self.last = member.name
                yield member
                self._current = None
            has_data = is_file or (kind not in _REGULAR and kind not in _NO_DATA)
            pos = data + (padded(size) if has_data else 0)

    @staticmethod
    def _name(header: bytes, long_name: bytes | None, pax: dict[str, str]) -> str:
        if "path" in pax:
            return pax["path"]
        raw = long_name if long_name is not None else header[:100].split(b"\0", 1)[0]
        if long_name is None and header[257:265] == _POSIX_MAGIC and header[345] != 0:
            raw = header[345:500].split(b"\0", 1)[0] + b"/" + raw
        return raw.decode("utf-8", "surrogateescape")

    def read(self, member: Member, into: memoryview) -> None:
        """Read the data of ``member`` (the one just yielded) into ``into``, and the next header with it."""
        if member is not self._current:
            raise ValueError("TarWalk.read: only the member just yielded can be read")
        after = member.offset + member.size
        next_header = after + padded(member.size) - member.size
        tail = memoryview(self._scratch)[: max(0, min(next_header + BLOCK, self._end) - after)]
        got = read_into(self._fd, [into, tail], member.offset)
        if got < member.size:
            raise self._broken(f"member {member.name} holds {got} of {member.size} bytes")
        if got - member.size == next_header + BLOCK - after:
            self._header = bytes(tail[next_header - after :])


_HAS_PREADV = hasattr(os, "preadv")  # Linux, macOS 11+; not Windows


def read_into(fd: int, buffers: list, offset: int) -> int:
    """``preadv`` of ``buffers`` at ``offset`` until they are full or the file ends; the bytes read."""
    total, want = 0, sum(len(b) for b in buffers)
    while buffers and total < want:
        n = os.preadv(fd, buffers, offset + total) if _HAS_PREADV else _pread_fallback(fd, buffers, offset + total)
        if n == 0:
            break
        total += n
        while buffers and n >= len(buffers[0]):  # drop what is full, cut the partly filled one
            n -= len(buffers[0])
            buffers = buffers[1:]
        if buffers and n:
            buffers = [buffers[0][n:], *buffers[1:]]
    return total


def pread(fd: int, size: int, offset: int) -> bytes:
    """``os.pread``, or seek + read where it is missing (Windows)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def _pread_fallback(fd: int, buffers: list, offset: int) -> int:
    """For platforms without ``preadv``: a read into the first buffer."""
    data = pread(fd, len(buffers[0]), offset)
    buffers[0][: len(data)] = data
    return len(data)
