"""verify_config on the fake ImageNet: counts against the full sizes, missing and malformed files, checksums."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import pytest

import fakenet
from imagenet_variants_lib import sources
from imagenet_variants_lib.verify import FULL_SIZE, verify_config

COUNTS = {
    "imagenet2012": {"train": 20, "validation": 9, "test": 5},
    "real": {"validation": 9},
    "multilabel": {"validation": 5, "imagenet_m": 2},  # the images the metadata lists
    "pi_low_noise": {"train": 20, "validation": 9},
    "pi_high_noise": {"train": 20, "validation": 9},
}


def counts(report) -> dict[str, int | None]:
    return {r.split: r.images for r in report.splits}


def test_full_sizes_are_the_published_ones():
    assert FULL_SIZE == {
        "imagenet2012": {"train": 1_281_167, "validation": 50_000, "test": 100_000},
        "real": {"validation": 50_000},
        "multilabel": {"validation": 20_000, "imagenet_m": 68},
        "pi_low_noise": {"train": 1_281_167, "validation": 50_000},
        "pi_high_noise": {"train": 1_281_167, "validation": 50_000},
    }


@pytest.mark.parametrize("config", list(COUNTS))
def test_counts_per_split_on_partial_data(fake, config):
    report = verify_config(config, fake.root)
    assert report.ok and report.problems == [] and report.checksums == []
    assert counts(report) == COUNTS[config]
    assert {r.split: r.full_size for r in report.splits} == FULL_SIZE[config]
    assert all(r.note == "partial data" for r in report.splits)
    text = report.format()
    assert text.startswith(f"verify {config} in {fake.root}: OK")
    assert "fewer images than the complete data" in text
    for r in report.splits:
        assert f"{r.full_size:,}" in text and Path(r.file).name in text


def test_optional_imagenet2012_splits_absent(fake_copy):
    (fake_copy.root / "ILSVRC2012_img_train.tar").unlink()
    (fake_copy.root / "ILSVRC2012_img_test_v10102019.tar").unlink()
    report = verify_config("imagenet2012", fake_copy.root)
    assert report.ok
    assert counts(report) == {"validation": 9, "train": None, "test": None}
    assert [r.note for r in report.splits if r.file is None] == ["tarball not in data_dir: split skipped (optional)"] * 2


def test_missing_metadata_file(fake_copy):
    (fake_copy.root / "real.json").unlink()
    report = verify_config("real", fake_copy.root)
    assert not report.ok
    [problem] = report.problems
    assert "real.json" in problem and "missing" in problem
    assert counts(report) == {"validation": 9}  # the tar is still counted
    assert report.splits[0].note.startswith("metadata missing")


def test_missing_tarball(fake_copy):
    (fake_copy.root / "ILSVRC2012_img_val.tar").unlink()
    report = verify_config("multilabel", fake_copy.root)
    assert not report.ok and "ILSVRC2012_img_val.tar" in report.problems[0]
    assert counts(report) == {"validation": None, "imagenet_m": None}
    assert "(missing)" in report.format()


def test_malformed_metadata(fake_copy):
    (fake_copy.root / "real.json").write_text('[[1], [2], "three"')
    report = verify_config("real", fake_copy.root)
    assert not report.ok
    [problem] = report.problems
    assert str(fake_copy.root / "real.json") in problem and "not valid JSON" in problem
    assert counts(report) == {"validation": 9} and "metadata does not match" in report.splits[0].note


def test_malformed_labels_file_names_the_line(fake_copy):
    lines = (fake_copy.root / "imagenet2012_labels.txt").read_text().splitlines()
    lines[6] = "goldfish"
    (fake_copy.root / "imagenet2012_labels.txt").write_text("\n".join(lines) + "\n")
    report = verify_config("imagenet2012", fake_copy.root)
    assert not report.ok
    assert any("imagenet2012_labels.txt, line 7" in p for p in report.problems)


def test_train_image_without_pi_row(fake_copy):
    dropped = fakenet.train_name(7, 0)
    for kind in ("labels", "confidences"):
        path = fake_copy.root / "imagenet_pi" / "low_noise" / kind / "train.csv"
        path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if not line.startswith(dropped)))
    report = verify_config("pi_low_noise", fake_copy.root)
    assert not report.ok
    [problem] = report.problems
    assert dropped in problem and "ILSVRC2012_img_train.tar" in problem and "labels/train.csv" in problem
    assert counts(report) == {"train": 20, "validation": 9}


def test_compressed_tarball(fake_copy):
    val = fake_copy.root / "ILSVRC2012_img_val.tar"
    val.write_bytes(gzip.compress(val.read_bytes()))
    report = verify_config("real", fake_copy.root)
    assert not report.ok and "gzip-compressed" in report.problems[0]
    assert counts(report) == {"validation": None} and "not readable" in report.splits[0].note


def test_truncated_train_tar(fake_copy):
    train = fake_copy.root / "ILSVRC2012_img_train.tar"
    train.write_bytes(train.read_bytes()[:30_000])
    report = verify_config("imagenet2012", fake_copy.root)
    assert not report.ok and str(train) in report.problems[0]
    assert counts(report)["train"] is None and counts(report)["validation"] == 9


def test_checksums_of_fake_files_do_not_match(fake):
    report = verify_config("imagenet2012", fake.root, checksums=True)
    assert not report.ok
    rows = {Path(r.file).name: r for r in report.checksums}
    val = rows["ILSVRC2012_img_val.tar"]
    assert (val.algorithm, val.expected, val.status) == ("md5", "29b22e2961454d5413ddabcf34fc5622", "MISMATCH")
    assert val.actual == hashlib.md5((fake.root / "ILSVRC2012_img_val.tar").read_bytes()).hexdigest()
    assert rows["ILSVRC2012_img_test_v10102019.tar"].status == "no published md5"
    assert rows["imagenet2012_labels.txt"].algorithm == "sha256" and rows["imagenet2012_labels.txt"].status == "MISMATCH"
    assert any(str(fake.root / "ILSVRC2012_img_val.tar") in p and "md5" in p for p in report.problems)
    assert not any("test_v10102019" in p for p in report.problems)  # no published md5 is not a failure
    assert "no published md5" in report.format() and "MISMATCH" in report.format()


def test_checksums_match_when_the_files_are_the_published_ones(fake, monkeypatch):
    # Pretend the fake files are the published ones: every pinned digest becomes the fake file's.
    for key, src in list(sources.SOURCES.items()):
        path = sources.find(fake.root, src)
        if path is None:
            continue
        if src.md5:
            monkeypatch.setitem(sources.SOURCES, key, dataclasses.replace(src, md5=hashlib.md5(path.read_bytes()).hexdigest()))
        elif src.sha256:
            monkeypatch.setitem(sources.SOURCES, key, dataclasses.replace(src, sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    report = verify_config("pi_high_noise", fake.root, checksums=True)
    assert report.ok, report.format()
    assert [r.status for r in report.checksums] == ["ok"] * 8
    assert [Path(r.file).name for r in report.checksums][:2] == ["ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"]


def test_unknown_config():
    with pytest.raises(ValueError, match="Unknown config 'imagenet21k'"):
        verify_config("imagenet21k", ".")
