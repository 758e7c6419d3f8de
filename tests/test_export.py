"""Export: Parquet shards + dataset card in the Hub layout, loaded back with plain ``datasets.load_dataset``."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
from pathlib import Path

import datasets
import pyarrow.dataset as pads
import pytest
from conftest import REPO, datasets_major
from huggingface_hub import DatasetCard

import fakenet
from imagenet_variants_lib import export, loading
from imagenet_variants_lib.export import export_config

TESTS = Path(__file__).parent


def built(config: str, fake, cache_dir) -> datasets.DatasetDict:
    b = loading.builder(config, data_dir=fake.root, cache_dir=cache_dir)
    loading.prepare(b)
    return b.as_dataset()


def summary(dsd: datasets.DatasetDict) -> dict:
    """Version-neutral content of a DatasetDict: columns, image sha256s, ClassLabel names, Arrow schema."""
    out = {}
    for split, ds in dsd.items():
        table = ds.with_format("arrow")[:]
        names = {}
        for column, feature in ds.features.items():
            feature = getattr(feature, "feature", feature)  # Sequence (3.6) / List (5.x) of ClassLabel
            if isinstance(feature, datasets.ClassLabel):
                names[column] = feature.names
        out[split] = {
            "columns": {c: table.column(c).to_pylist() for c in table.column_names if c != "image"},
            "images": [hashlib.sha256(x["bytes"]).hexdigest() for x in table.column("image").to_pylist()],
            "class_names": names,
            "schema": str(ds.features.arrow_schema.remove_metadata()),
        }
    return out


def load(out: Path, config: str, tmp_path: Path) -> datasets.DatasetDict:
    return datasets.load_dataset(str(out), config, cache_dir=str(tmp_path / f"load-{config}"))


def assert_same(loaded: datasets.DatasetDict, expected: datasets.DatasetDict) -> None:
    assert list(loaded) == list(expected)
    for split in expected:
        assert loaded[split].features == expected[split].features
        # Same rows in the same order, byte for byte (images included).
        assert loaded[split].with_format("arrow")[:].equals(expected[split].with_format("arrow")[:])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def card(out: Path) -> DatasetCard:
    return DatasetCard.load(out / "README.md")


def test_export_one_config(fake, cache_dir, tmp_path):
    out = tmp_path / "out"
    result = export_config("real", fake.root, out, cache_dir=cache_dir)
    shard = out / "real" / "validation-00000-of-00001.parquet"
    assert result == {"output": str(out), "config": "real", "splits": {"validation": {"num_rows": 9, "files": [str(shard)]}}}
    assert sorted(snapshot(out)) == ["README.md", "real/validation-00000-of-00001.parquet"]

    expected = built("real", fake, cache_dir)
    loaded = load(out, "real", tmp_path)
    assert_same(loaded, expected)
    assert loaded["validation"].features["original_label"].names == fakenet.WNIDS
    rows = loaded["validation"].cast_column("image", datasets.Image(decode=False))
    assert {r["file_name"]: r["original_label"] for r in rows} == fake.validation
    assert {r["file_name"]: r["real_label"] for r in rows} == {fakenet.val_name(i): fakenet.real_labels(i) for i in fakenet.VAL_INDICES}
    assert all(r["image"]["bytes"] == fake.images[r["file_name"]] for r in rows if r["file_name"] not in fake.odd)

    c = card(out)
    assert c.data.configs == [{"config_name": "real", "data_files": [{"split": "validation", "path": "real/validation-*"}]}]
    assert c.data.dataset_info["config_name"] == "real"
    assert [(s["name"], s["num_examples"]) for s in c.data.dataset_info["splits"]] == [("validation", 9)]
    assert c.data.dataset_info["download_size"] == shard.stat().st_size
    assert c.data.pretty_name == "ImageNet-ReaL (ILSVRC-2012 validation with reassessed labels)"
    assert c.data.size_categories == ["n<1K"]  # from the exported rows, not the full dataset
    assert c.text.startswith("# ImageNet-ReaL (`real`)")  # the config's card, as it is


def test_source_cards_have_no_generated_blocks():
    for config in loading.CONFIG_NAMES:
        source = export._source_card(config)
        assert source is not None, config
        assert "configs" not in source.data and "dataset_info" not in source.data, config


def test_lists_are_written_so_that_every_version_reads_them(fake, cache_dir, tmp_path):
    # datasets 5.x would write `list:`; 3.6 reads that as a variable-length list and drops `length: 16`.
    out = tmp_path / "out"
    export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir)
    features = {f["name"]: f for f in card(out).data.dataset_info["features"]}
    assert features["annotator_labels"] == {"name": "annotator_labels", "sequence": "int64", "length": 16}
    assert features["annotator_confidences"] == {"name": "annotator_confidences", "sequence": "float32", "length": 16}
    assert_same(load(out, "pi_low_noise", tmp_path), built("pi_low_noise", fake, cache_dir))


def test_shards_are_contiguous_and_sized_by_max_shard_size(fake, cache_dir, tmp_path):
    out = tmp_path / "out"
    expected = built("pi_low_noise", fake, cache_dir)
    arrow_bytes = expected["train"].data.nbytes
    result = export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir, max_shard_size=arrow_bytes // 4)
    names = [Path(f).name for f in result["splits"]["train"]["files"]]
    n = -(-arrow_bytes // (arrow_bytes // 4))  # ceil: 4 or 5 shards
    assert names == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    parts = [datasets.Dataset.from_parquet(f, cache_dir=str(tmp_path / "parts")) for f in result["splits"]["train"]["files"]]
    assert sum(len(p) for p in parts) == 20
    assert [n for p in parts for n in p["file_name"]] == expected["train"]["file_name"]  # contiguous, in order
    assert_same(load(out, "pi_low_noise", tmp_path), expected)


def test_bad_max_shard_size_is_refused_before_preparing(fake, tmp_path):
    with pytest.raises(ValueError, match="max_shard_size='lots'"):
        export_config("real", fake.root, tmp_path / "out", cache_dir=tmp_path / "cache", max_shard_size="lots")
    assert not (tmp_path / "cache").exists()


def test_two_configs_share_one_folder(fake, cache_dir, tmp_path):
    out = tmp_path / "out"
    export_config("real", fake.root, out, cache_dir=cache_dir)
    export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir)

    c = card(out)
    assert [x["config_name"] for x in c.data.configs] == ["pi_low_noise", "real"]
    assert sorted(i["config_name"] for i in c.data.dataset_info) == ["pi_low_noise", "real"]
    assert c.data.pretty_name == "ImageNet variants (real, pi_low_noise)"
    assert {"imagenet-real", "imagenet-pi", "imagenet"} <= set(c.data.tags)
    assert len(c.data.tags) == len(set(c.data.tags))
    assert c.data.task_ids == ["multi-label-image-classification", "multi-class-image-classification"]
    assert c.data.license == "other"
    # Prose: an intro with both configs, then each card one heading level down (code untouched).
    assert c.text.startswith("# ImageNet variants")
    assert "| `real` |" in c.text and "| `pi_low_noise` |" in c.text
    assert "\n## ImageNet-ReaL (`real`)\n" in c.text and "\n## ImageNet-PI, low noise (`pi_low_noise`)\n" in c.text
    assert "\n### Loading\n" in c.text and "\n# a Hub repo id, or the path of a local export folder\n" in c.text
    assert c.text.index("(`real`)\n") < c.text.index("(`pi_low_noise`)\n")  # CONFIG_NAMES order

    for config in ("real", "pi_low_noise"):  # the first config survives the second export
        assert_same(load(out, config, tmp_path), built(config, fake, cache_dir))


def test_reexport_replaces_the_config_and_keeps_the_others(fake, cache_dir, tmp_path):
    out = tmp_path / "out"
    export_config("real", fake.root, out, cache_dir=cache_dir)
    export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir)
    real_before = snapshot(out / "real")
    result = export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir, max_shard_size="8KB")
    files = sorted(p.name for p in (out / "pi_low_noise").iterdir())
    assert files == sorted(Path(f).name for s in result["splits"].values() for f in s["files"])
    assert len(files) > 2 and "train-00000-of-00001.parquet" not in files  # old files are gone
    assert snapshot(out / "real") == real_before
    assert [x["config_name"] for x in card(out).data.configs] == ["pi_low_noise", "real"]
    assert_same(load(out, "pi_low_noise", tmp_path), built("pi_low_noise", fake, cache_dir))
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_failure_while_writing_leaves_the_previous_export(fake, cache_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export_config("real", fake.root, out, cache_dir=cache_dir)
    export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir)
    before = snapshot(out)
    real_to_parquet, calls = datasets.Dataset.to_parquet, []

    def to_parquet_then_fail(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            raise OSError("No space left on device")
        return real_to_parquet(self, path, *args, **kwargs)

    monkeypatch.setattr(datasets.Dataset, "to_parquet", to_parquet_then_fail)
    with pytest.raises(OSError, match="No space left"):
        export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir, max_shard_size="8KB")
    assert len(calls) == 2 and Path(calls[0]).parent.name.startswith(".pi_low_noise.incomplete-")
    assert snapshot(out) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_failure_while_writing_the_card_restores_the_config(fake, cache_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export_config("real", fake.root, out, cache_dir=cache_dir)
    before = snapshot(out)

    def fail(path, text):
        raise OSError("read-only file system")

    monkeypatch.setattr(export, "write_atomic", fail)
    with pytest.raises(OSError, match="read-only"):
        export_config("real", fake.root, out, cache_dir=cache_dir, max_shard_size="8KB")
    with pytest.raises(OSError, match="read-only"):  # a config that was not there before is not left behind
        export_config("pi_low_noise", fake.root, out, cache_dir=cache_dir)
    assert snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "real"]


def test_leftovers_of_a_killed_export_are_cleaned_up(fake, cache_dir, tmp_path):
    out = tmp_path / "out"
    export_config("real", fake.root, out, cache_dir=cache_dir)
    before = snapshot(out)
    # Killed after moving the old folder aside, and with an unfinished new one.
    os.replace(out / "real", out / ".real.old-12345678")
    (out / ".real.incomplete-abcdef01").mkdir()
    (out / ".real.incomplete-abcdef01" / "validation-00000-of-00001.parquet").write_bytes(b"partial")
    export_config("real", fake.root, out, cache_dir=cache_dir)
    assert snapshot(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "real"]


def test_reuse_existing_keeps_matching_files(fake, cache_dir, tmp_path):
    out = tmp_path / "out"
    export_config("real", fake.root, out, cache_dir=cache_dir)
    shard = out / "real" / "validation-00000-of-00001.parquet"
    stat = shard.stat()
    export_config("real", fake.root, out, cache_dir=cache_dir, reuse_existing=True)
    assert (shard.stat().st_ino, shard.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    export_config("real", fake.root, out, cache_dir=cache_dir, reuse_existing=True, max_shard_size=1000)
    assert not shard.exists()  # a different shard plan is rewritten


def test_shards_read_one_by_one_with_pyarrow_dataset(fake, cache_dir, tmp_path):
    """The 'scaling past one machine' path: each shard is a plain Parquet file that any worker can read."""
    out = tmp_path / "out"
    export_config("imagenet2012", fake.root, out, cache_dir=cache_dir, max_shard_size="8KB")
    expected = built("imagenet2012", fake, cache_dir)
    image_bytes = {}
    for split, ds in expected.items():
        ds = ds.cast_column("image", datasets.Image(decode=False))
        image_bytes.update({r["file_name"]: r["image"]["bytes"] for r in ds})

    rows_per_split, seen = {}, []
    dataset = pads.dataset(out / "imagenet2012", format="parquet")
    for fragment in dataset.get_fragments():
        split = Path(fragment.path).name.split("-")[0]
        table = fragment.to_table(columns=["file_name", "label", "image"])
        assert fragment.count_rows() == table.num_rows > 0
        rows_per_split[split] = rows_per_split.get(split, 0) + table.num_rows
        for name, image in zip(table.column("file_name").to_pylist(), table.column("image").to_pylist()):
            assert image["bytes"] == image_bytes[name] and len(image["bytes"]) > 0
            seen.append(name)
    assert rows_per_split == {"train": 20, "validation": 9, "test": 5}
    assert sorted(seen) == sorted(image_bytes)
    # One split = the files of one glob, as Spark, Dask or Ray would be given them.
    train = pads.dataset(sorted(glob.glob(str(out / "imagenet2012" / "train-*.parquet"))), format="parquet")
    assert train.count_rows() == 20
    assert dict(zip(*train.to_table(columns=["file_name", "label"]).to_pydict().values())) == fake.train


# ---- the other datasets line (3.6 <-> 5.x), when an interpreter for it is available ----------


def other_python() -> str | None:
    """A python whose datasets major version differs from ours: $IMAGENET_VARIANTS_OTHER_PYTHON or a nox venv."""
    candidates = [os.environ.get("IMAGENET_VARIANTS_OTHER_PYTHON"), *sorted(glob.glob(str(REPO / ".nox" / "*" / "bin" / "python")))]
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import datasets; print(datasets.__version__)"], capture_output=True, text=True)
        if probe.returncode == 0 and int(probe.stdout.split(".")[0]) != datasets_major():
            return python
    return None


def run_other(python: str, code: str, tmp_path: Path) -> str:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-other"), "PYTHONPATH": str(TESTS)}
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def other(tmp_path) -> str:
    python = other_python()
    if python is None:
        pytest.skip("no python with the other datasets line: set IMAGENET_VARIANTS_OTHER_PYTHON (e.g. the 3.6 venv's python when testing 5.x)")
    return python


@pytest.mark.parametrize("config", ["pi_low_noise", "multilabel"])  # fixed-length lists; lists of ClassLabel
def test_export_loads_on_the_other_datasets_line(fake, cache_dir, tmp_path, other, config):
    out = tmp_path / "out"
    export_config(config, fake.root, out, cache_dir=cache_dir)
    code = (
        "import json, datasets; from test_export import summary; "
        f"print(json.dumps(summary(datasets.load_dataset({str(out)!r}, {config!r}, cache_dir={str(tmp_path / 'other-load')!r}))))"
    )
    assert json.loads(run_other(other, code, tmp_path)) == summary(built(config, fake, cache_dir))


@pytest.mark.parametrize("config", ["pi_low_noise", "multilabel"])
def test_export_from_the_other_datasets_line_loads_here(fake, cache_dir, tmp_path, other, config):
    out = tmp_path / "out"
    code = (
        "from imagenet_variants_lib.export import export_config; "
        f"print(export_config({config!r}, {str(fake.root)!r}, {str(out)!r}, cache_dir={str(tmp_path / 'other-cache')!r})['config'])"
    )
    assert run_other(other, code, tmp_path) == config
    loaded = load(out, config, tmp_path)
    expected = built(config, fake, cache_dir)
    assert_same(loaded, expected)
    assert summary(loaded) == summary(expected)
