"""The tar header walker against ``tarfile`` on every tar format, and its errors."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pyarrow as pa
import pytest

from imagenet_variants_lib.archives import FlatTar, Shard, TarOfTars, index_tar
from imagenet_variants_lib.errors import ArchiveError
from imagenet_variants_lib.tarwalk import BLOCK, Member, TarWalk

# Sizes around block boundaries, an empty file, and one of several blocks.
FILES = {
    "ILSVRC2012_val_00000001.JPEG": b"\xff\xd8" + b"a" * 510,  # exactly one block
    "dir/sub/n01440764_1.JPEG": b"b" * 513,  # a path: the walker keeps the base name
    "empty.JPEG": b"",
    "odd.JPEG": b"c" * 1023,
    "x" * 120 + ".JPEG": b"d" * 3000,  # longer than the 100-byte name field
    "d/" + "y" * 99 + "/z" * 30 + ".JPEG": b"e" * 7,  # long path: ustar prefix, GNU long name or pax path
    "caf\u00e9_\u00fcml.JPEG": b"f" * 40,  # non-ASCII: a pax header in PAX_FORMAT
}


def make_tar(fmt: int, files: dict[str, bytes], extras: bool = True, **kwargs) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, **kwargs) as tar:
        if extras:
            d = tarfile.TarInfo("dir")
            d.type = tarfile.DIRTYPE
            tar.addfile(d)
        for name, data in files.items():
            if fmt == tarfile.USTAR_FORMAT and (len(name.rsplit("/", 1)[-1]) > 100 or not name.isascii()):
                continue  # ustar cannot hold it
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extras:
            link = tarfile.TarInfo("link.JPEG")
            link.type, link.linkname = tarfile.SYMTYPE, "odd.JPEG"
            tar.addfile(link)
    return buf.getvalue()


def by_tarfile(data: bytes) -> list[tuple[str, int, int, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m.name.rsplit("/", 1)[-1], m.offset_data, m.size, tar.extractfile(m).read()) for m in tar if m.isfile()]


def by_walk(path, start: int = 0, end: int | None = None, read=lambda i: True) -> list[tuple[str, int, int, bytes | None]]:
    out = []
    with open(path, "rb", buffering=0) as f:
        walk = TarWalk(f, start, end if end is not None else path.stat().st_size, str(path))
        for i, m in enumerate(walk):
            data = None
            if read(i):
                buf = bytearray(m.size)
                walk.read(m, memoryview(buf))
                data = bytes(buf)
            out.append((m.name, m.offset - start, m.size, data))
    return out


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["ustar", "gnu", "pax"])
@pytest.mark.parametrize("read", ["all", "none", "every_other"])
def test_walk_matches_tarfile(tmp_path, fmt, read):
    data = make_tar(fmt, FILES)
    path = tmp_path / "a.tar"
    path.write_bytes(data)
    expected = by_tarfile(data)
    assert len(expected) == (5 if fmt == tarfile.USTAR_FORMAT else 7)
    pick = {"all": lambda i: True, "none": lambda i: False, "every_other": lambda i: i % 2 == 0}[read]
    got = by_walk(path, read=pick)
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    assert all(g[3] == e[3] for i, (g, e) in enumerate(zip(got, expected)) if pick(i))
    assert index_tar(str(path)) == [Member(n, o, s) for n, o, s, _ in expected]


def test_walk_inside_a_region_of_a_larger_file(tmp_path):
    """An inner tar walked in place: offsets are absolute, nothing past the region is read."""
    inner = make_tar(tarfile.GNU_FORMAT, FILES)
    path = tmp_path / "outer.bin"
    path.write_bytes(b"\x01" * 4096 + inner + b"\x02" * 4096)
    got = by_walk(path, 4096, 4096 + len(inner))
    assert [(g[0], g[1], g[2], g[3]) for g in got] == by_tarfile(inner)
    # The region cut right after the last member's data: no end-of-archive blocks, no next header.
    last = by_tarfile(inner)[-1]
    cut = by_walk(path, 4096, 4096 + last[1] + last[2])
    assert [c[0] for c in cut] == [e[0] for e in by_tarfile(inner)]


def test_pax_global_header_and_ustar_prefix(tmp_path):
    data = make_tar(tarfile.PAX_FORMAT, FILES, pax_headers={"comment": "global"})
    path = tmp_path / "g.tar"
    path.write_bytes(data)
    assert data[156:157] == b"g"  # the archive starts with a global header
    assert [g[:3] for g in by_walk(path)] == [e[:3] for e in by_tarfile(data)]


def _rewrite_header(data: bytearray, offset: int, field: slice, value: bytes, signed_checksum: bool = False) -> None:
    data[field] = value
    header = data[offset : offset + BLOCK]
    header[148:156] = b" " * 8
    total = sum(b - 256 if signed_checksum and b >= 0x80 else b for b in header)
    data[offset + 148 : offset + 156] = b"%06o\0 " % (total & 0o777777)


def test_base256_size_and_signed_checksum(tmp_path):
    """GNU base-256 numbers and the signed-byte checksum some old tars wrote."""
    data = bytearray(make_tar(tarfile.GNU_FORMAT, {"a.JPEG": b"z" * 700}, extras=False))
    _rewrite_header(data, 0, slice(124, 136), b"\x80" + (700).to_bytes(11, "big"))
    _rewrite_header(data, 0, slice(0, 7), b"\xe9a.JPEG", signed_checksum=True)
    path = tmp_path / "b.tar"
    path.write_bytes(bytes(data))
    assert by_tarfile(bytes(data))[0][1:] == (BLOCK, 700, b"z" * 700)
    assert by_walk(path)[0][1:] == (BLOCK, 700, b"z" * 700)


def test_damaged_header_mid_archive_is_an_error(tmp_path):
    """tarfile silently ends the archive at a bad header after the first; the walker refuses it."""
    files = {f"n01440764_{i}.JPEG": bytes([i]) * 600 for i in range(4)}
    data = bytearray(make_tar(tarfile.GNU_FORMAT, files, extras=False))
    third = by_tarfile(bytes(data))[2][1] - BLOCK
    data[third : third + 16] = b"garbage!garbage!"
    assert len(by_tarfile(bytes(data))) == 2  # tarfile: two images and a silent end
    path = tmp_path / "c.tar"
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=rf"c\.tar: the archive is truncated or corrupt after member n01440764_1\.JPEG \(no valid tar header at offset {third}\)"):
        by_walk(path)


# a.JPEG: header at 0, data at 512; b.JPEG: header at 1536, data at 2048.
@pytest.mark.parametrize("cut", [2048 + 100, 1536 + 300], ids=["in_data", "in_header"])
def test_truncated_archive_is_an_error(tmp_path, cut):
    data = make_tar(tarfile.GNU_FORMAT, {"a.JPEG": b"a" * 600, "b.JPEG": b"b" * 600}, extras=False)
    assert [m[1] for m in by_tarfile(data)] == [512, 2048]
    path = tmp_path / "t.tar"
    path.write_bytes(data[:cut])
    with pytest.raises(ArchiveError, match="truncated"):
        index_tar(str(path))


def test_sparse_member_is_refused(tmp_path):
    data = bytearray(make_tar(tarfile.GNU_FORMAT, {"a.JPEG": b"a" * 10}, extras=False))
    _rewrite_header(data, 0, slice(156, 157), b"S")
    path = tmp_path / "s.tar"
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="a.JPEG is a sparse file"):
        index_tar(str(path))


def test_read_only_the_member_just_yielded(tmp_path):
    path = tmp_path / "r.tar"
    path.write_bytes(make_tar(tarfile.GNU_FORMAT, {"a.JPEG": b"a", "b.JPEG": b"b"}, extras=False))
    with open(path, "rb", buffering=0) as f:
        walk = TarWalk(f, 0, path.stat().st_size, "r.tar")
        first = next(iter(walk))
        with pytest.raises(ValueError):
            walk.read(Member("b.JPEG", first.offset + 2 * BLOCK, 1), memoryview(bytearray(1)))


def test_shards_pickle_compactly_and_round_trip(fake):
    import dill

    for shard in [*FlatTar.shards(str(fake.root / "ILSVRC2012_img_val.tar")), *TarOfTars.shards(str(fake.root / "ILSVRC2012_img_train.tar"))]:
        for dumps, loads in ((pickle.dumps, pickle.loads), (dill.dumps, dill.loads)):
            back = loads(dumps(shard))
            assert back == shard and back.members == shard.members and back.inner == shard.inner
    big = Shard("x.tar", members=tuple(Member(f"ILSVRC2012_val_{i:08d}.JPEG", i * 1024, 1000) for i in range(250)))
    # Sent to num_proc workers as names and two int64 arrays, not one object per member (which
    # dill pickles ~10x slower, see Shard.__reduce__).
    names, offsets, sizes = big.__reduce__()[1][1:4]
    assert names == tuple(m.name for m in big.members) and list(offsets) == [m.offset for m in big.members]
    assert len(dill.dumps(big)) < 0.9 * len(dill.dumps(big.members))


def test_shard_rows_pickle_without_the_rest_of_their_table():
    import dill

    # Shard.rows is a slice of the split's whole annotation table (join.plan); pyarrow pickles a
    # slice with its parent's buffers whole, which would send every shard the whole table.
    n = 10_000
    table = pa.table({"file_name": [f"n01440764_{i}.JPEG" for i in range(n)], "clean_label": np.arange(n, dtype=np.int16)})
    whole = len(pickle.dumps(table))
    for rows in (table.slice(250, 100), table.slice(n - 1, 1), table.slice(0, 0)):
        shard = Shard("train.tar", inner=Member("n01440764.tar", 512, 1024), rows=rows)
        for dumps, loads in ((pickle.dumps, pickle.loads), (dill.dumps, dill.loads)):
            data = dumps(shard)
            assert len(data) < whole / 20, (rows.num_rows, len(data), whole)
            back = loads(data)
            assert back == shard and back.rows.equals(rows) and back.rows.schema == rows.schema


def test_malformed_pax_header_is_an_error(tmp_path):
    data = bytearray(make_tar(tarfile.PAX_FORMAT, {"caf\u00e9.JPEG": b"a" * 10}, extras=False))
    assert data[156:157] == b"x" and data[BLOCK : BLOCK + 3].split(b" ")[0].isdigit()
    data[BLOCK : BLOCK + 2] = b"zz"  # the record length of the pax data block (not under the header checksum)
    path = tmp_path / "p.tar"
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="malformed pax header at offset 0"):
        index_tar(str(path))
