"""Bad input and faults: each case names the culprit, exits non-zero in the CLI and leaves no .arrow files."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

import fakenet
from imagenet_variants_lib import ArchiveError, ImageError, MetadataError, MissingFilesError, load_variant
from imagenet_variants_lib.cli import main as cli_main


def arrow_files(cache_dir) -> list[Path]:
    return list(Path(cache_dir).rglob("*.arrow"))


def content_hash(dsd) -> str:
    """A fingerprint of the content: every split's (file name, fields, image bytes), order-independent."""
    digest = hashlib.sha256()
    for split in sorted(dsd):
        ds = dsd[split].cast_column("image", __import__("datasets").Image(decode=False))
        for row in sorted(ds, key=lambda r: r["file_name"]):
            digest.update(json.dumps({k: v for k, v in row.items() if k != "image"}, sort_keys=True).encode())
            digest.update(row["image"]["bytes"])
    return digest.hexdigest()


def rewrite_tar(path: Path, members: dict[str, bytes]) -> None:
    path.unlink()
    fakenet.write_tar(path, members)


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


# Each case breaks a private copy of the fake data and names what the error must mention.
def truncate_val(root):
    path = root / "ILSVRC2012_img_val.tar"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "imagenet2012", ["ILSVRC2012_img_val.tar", "truncated"]


def truncate_train_outer(root):
    path = root / "ILSVRC2012_img_train.tar"
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return "imagenet2012", ["ILSVRC2012_img_train.tar", "truncated"]


def corrupt_inner_tar(root):
    path = root / "ILSVRC2012_img_train.tar"
    members = tar_members(path)
    name = f"{fakenet.WNIDS[7]}.tar"
    inner = bytearray(members[name])
    inner[512 + 100 : 512 + 400] = b"\x00" * 300  # wipe the data of the first image, then the second header
    inner[2048:2560] = b"garbage!" * 64
    members[name] = bytes(inner)
    rewrite_tar(path, members)
    return "imagenet2012", [f"ILSVRC2012_img_train.tar -> {name}"]


def unknown_wnid_inner_tar(root):
    path = root / "ILSVRC2012_img_train.tar"
    members = tar_members(path)
    members["n99999999.tar"] = members.pop(f"{fakenet.WNIDS[0]}.tar")
    rewrite_tar(path, members)
    return "imagenet2012", ["n99999999.tar", "not named after a WNID"]


def seven_digit_val_names(root):
    path = root / "ILSVRC2012_img_val.tar"
    members = {n.replace("_val_000", "_val_00"): d for n, d in tar_members(path).items()}
    rewrite_tar(path, members)
    return "imagenet2012", ["ILSVRC2012_val_0000001.JPEG", "8 digits", "ILSVRC2012_img_val.tar"]


def duplicate_val_name(root):
    path = root / "ILSVRC2012_img_val.tar"
    items = list(tar_members(path).items())
    path.unlink()
    with tarfile.open(path, "w") as tar:
        for name, data in items + [items[0]]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return "imagenet2012", [items[0][0], "occurs twice"]


def bad_real_json(root):
    (root / "real.json").write_text("[[1], [2],")
    return "real", ["real.json", "not valid JSON"]


def short_real_json(root):
    (root / "real.json").write_text(json.dumps([[1]] * 10))
    return "real", ["real.json", "50000 lists", "10"]


def multilabel_unknown_wnid(root):
    path = root / "human_accuracy_v3.0.0.json"
    data = json.loads(path.read_text())
    data["initial_annots"][fakenet.val_name(2)]["correct"] = ["n00000042"]
    path.write_text(json.dumps(data))
    return "multilabel", ["human_accuracy_v3.0.0.json", "n00000042", fakenet.val_name(2)]


def multilabel_missing_key(root):
    path = root / "human_accuracy_v3.0.0.json"
    data = json.loads(path.read_text())
    del data["imagenet_m"]
    path.write_text(json.dumps(data))
    return "multilabel", ["human_accuracy_v3.0.0.json", "imagenet_m"]


def pi_non_number(root):
    path = root / "imagenet_pi" / "low_noise" / "confidences" / "validation.csv"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace("0.058824", "high", 1)
    path.write_text("\n".join(lines) + "\n")
    return "pi_low_noise", ["confidences/validation.csv, line 5", "'high'"]


def unreadable_image(root):
    path = root / "ILSVRC2012_img_val.tar"
    members = tar_members(path)
    members[fakenet.val_name(500)] = b"\xff\xd8\xff\xe0 this is not a jpeg"
    rewrite_tar(path, members)
    return "imagenet2012", [fakenet.val_name(500), "not a readable image", "ILSVRC2012_img_val.tar"]


def gzipped_val_tar(root):
    path = root / "ILSVRC2012_img_val.tar"
    (root / "ILSVRC2012_img_val.tar.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return "real", ["ILSVRC2012_img_val.tar.gz is gzip-compressed", "gunzip"]


def gzip_named_tar(root):
    path = root / "ILSVRC2012_img_val.tar"
    path.write_bytes(gzip.compress(path.read_bytes()))
    return "real", ["ILSVRC2012_img_val.tar is gzip-compressed", "gunzip"]


def pi_one_level_too_high(root):
    shutil.move(root / "imagenet_pi" / "high_noise", root / "high_noise")
    return "pi_high_noise", ["found high_noise/ directly in", "imagenet_pi"]


def pi_one_level_too_deep(root):
    (root / "imagenet_pi" / "imagenet_pi").mkdir()
    shutil.move(root / "imagenet_pi" / "low_noise", root / "imagenet_pi" / "imagenet_pi" / "low_noise")
    return "pi_low_noise", ["imagenet_pi/imagenet_pi/low_noise", "up one level"]


def missing_everything_for_pi(root):
    for p in root.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return "pi_low_noise", ["ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "imagenet_pi/low_noise/labels/train.csv", "image-net.org"]


CASES = [
    truncate_val, truncate_train_outer, corrupt_inner_tar, unknown_wnid_inner_tar, seven_digit_val_names,
    duplicate_val_name, bad_real_json, short_real_json, multilabel_unknown_wnid, multilabel_missing_key,
    pi_non_number, unreadable_image, gzipped_val_tar, gzip_named_tar, pi_one_level_too_high,
    pi_one_level_too_deep, missing_everything_for_pi,
]


def check_cli_names_the_culprit(fake_copy, cache_dir, capsys, breaker, *options: str) -> None:
    config, expected = breaker(fake_copy.root)
    code = cli_main(["prepare", config, "--data-dir", str(fake_copy.root), "--cache-dir", cache_dir, *options])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    for text in expected:
        assert text in err, (text, err)
    assert not arrow_files(cache_dir)


@pytest.mark.parametrize("breaker", CASES, ids=[c.__name__ for c in CASES])
def test_broken_data_dir_cli(fake_copy, cache_dir, capsys, breaker):
    check_cli_names_the_culprit(fake_copy, cache_dir, capsys, breaker)


@pytest.mark.parametrize("breaker, error", [(truncate_val, ArchiveError), (bad_real_json, MetadataError), (unreadable_image, ImageError), (pi_one_level_too_high, MissingFilesError)])
def test_library_raises_our_error_types(fake_copy, cache_dir, breaker, error):
    config, _ = breaker(fake_copy.root)
    with pytest.raises(error):
        load_variant(config, data_dir=fake_copy.root, cache_dir=cache_dir)
    assert not arrow_files(cache_dir)


def test_skip_unreadable_images_is_explicit_and_counted(fake_copy, cache_dir, caplog):
    unreadable_image(fake_copy.root)
    val = load_variant("imagenet2012", data_dir=fake_copy.root, split="validation", cache_dir=cache_dir, skip_unreadable_images=True)
    assert val.num_rows == len(fakenet.VAL_INDICES) - 1
    assert fakenet.val_name(500) not in val["file_name"]
    assert "Skipped 1 unreadable image(s)" in caplog.text


def test_debug_flag_shows_the_traceback(fake_copy, cache_dir, capsys):
    bad_real_json(fake_copy.root)
    assert cli_main(["--debug", "prepare", "real", "--data-dir", str(fake_copy.root), "--cache-dir", cache_dir]) == 1
    assert "Traceback" in capsys.readouterr().err


SLOW_PREPARE = textwrap.dedent(
    """
    import sys, time
    import imagenet_variants_lib.join as join
    slow = join._Batch.add
    join._Batch.add = lambda self, member: (time.sleep(0.25), slow(self, member))[1]
    join.BATCH_IMAGES = 1  # one table, hence one write to the .arrow file, per image
    from imagenet_variants_lib import builder
    b = builder("imagenet2012", data_dir=sys.argv[1], cache_dir=sys.argv[2], writer_batch_size=1)
    b.download_and_prepare()
    """
)


def _start_slow_prepare(data_dir, cache_dir) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SLOW_PREPARE, str(data_dir), str(cache_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_prepare_leaves_no_dataset_and_rerun_is_identical(fake, tmp_path):
    cache = tmp_path / "cache"
    proc = _start_slow_prepare(fake.root, cache)
    deadline = time.time() + 60
    while not arrow_files(cache) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = arrow_files(cache)
    assert leftovers and all(".incomplete" in str(p) for p in leftovers)  # only datasets' temporary folder
    assert not list(cache.rglob("dataset_info.json"))  # nothing that looks prepared
    rerun = load_variant("imagenet2012", data_dir=fake.root, cache_dir=cache)
    assert not [p for p in cache.rglob("*.incomplete") if p.is_dir()]
    clean = load_variant("imagenet2012", data_dir=fake.root, cache_dir=tmp_path / "clean")
    assert {k: v.num_rows for k, v in rerun.items()} == {"train": 20, "validation": 9, "test": 5}
    assert content_hash(rerun) == content_hash(clean)


def test_concurrent_prepares_of_one_config(fake, tmp_path):
    cache = tmp_path / "cache"
    procs = [_start_slow_prepare(fake.root, cache) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    together = load_variant("imagenet2012", data_dir=fake.root, cache_dir=cache)
    clean = load_variant("imagenet2012", data_dir=fake.root, cache_dir=tmp_path / "clean")
    assert content_hash(together) == content_hash(clean)
    assert not [p for p in cache.rglob("*.incomplete") if p.is_dir()]


def test_no_assert_pickle_or_eval_in_the_library():
    root = Path(__file__).resolve().parents[1]
    sources = [root / "imagenet_variants.py", *sorted((root / "imagenet_variants_lib").glob("*.py"))]
    for path in sources:
        text = path.read_text()
        for banned in ("assert ", "pickle.load", "eval(", "allow_pickle=True", ".extractall(", ".extract("):
            assert banned not in text, f"{path.name} uses {banned!r}"


@pytest.mark.parametrize(
    "array, message",
    [
        ("wrong_rows", "100000"),
        ("too_few_columns", "5"),
        ("out_of_range", "0..999"),
    ],
)
def test_cli_submission_refuses_bad_arrays(tmp_path, capsys, array, message):
    import numpy as np

    arrays = {
        "wrong_rows": np.zeros((10, 5), dtype=np.int64),
        "too_few_columns": np.tile(np.arange(4), (100_000, 1)),
        "out_of_range": np.tile(np.array([0, 1, 2, 3, 1000]), (100_000, 1)),
    }
    path = tmp_path / "pred.npy"
    np.save(path, arrays[array])
    out = tmp_path / "submission.txt"
    assert cli_main(["submission", "--predictions", str(path), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("breaker", [corrupt_inner_tar, truncate_val, unreadable_image], ids=lambda b: b.__name__)
def test_broken_data_dir_cli_num_proc_2(fake_copy, cache_dir, capsys, breaker):
    # The error is raised in a worker process; the parent must still name the culprit.
    check_cli_names_the_culprit(fake_copy, cache_dir, capsys, breaker, "--num-proc", "2")
