"""End-to-end: the imagenet2012 config through every loading path, on the fake ImageNet."""

from __future__ import annotations

import io
import shutil

import datasets
import pytest
from conftest import SCRIPT, datasets_major, refdata
from PIL import Image

import fakenet
from imagenet_variants import ImagenetVariants
from imagenet_variants_lib import ChecksumError, MissingFilesError, load_variant
from imagenet_variants_lib.images import jpeg_components

NO_DECODE = {"image": datasets.Image(decode=False)}


def rows(ds: datasets.Dataset, label: str = "label") -> dict[str, tuple[int, bytes]]:
    ds = ds.cast_column("image", datasets.Image(decode=False))
    return {r["file_name"]: (r[label], r["image"]["bytes"]) for r in ds}


def check_imagenet2012(dsd: datasets.DatasetDict, fake: fakenet.FakeImagenet) -> None:
    assert sorted(dsd) == ["test", "train", "validation"]
    assert {k: dsd[k].num_rows for k in dsd} == {"train": 20, "validation": 9, "test": 5}
    assert dsd["train"].features["label"].names == fakenet.WNIDS
    assert list(dsd["train"].features) == ["image", "label", "file_name"]
    expected = {"train": fake.train, "validation": fake.validation, "test": {n: -1 for n in fake.test}}
    for split, labels in expected.items():
        got = rows(dsd[split])
        assert {n: lab for n, (lab, _) in got.items()} == labels
        for name, (_, data) in got.items():
            if name in fake.odd:
                assert jpeg_components(data) == 3, name  # converted to RGB JPEG
                with Image.open(io.BytesIO(data)) as img:
                    assert (img.format, img.mode) == ("JPEG", "RGB")
            else:
                assert data == fake.images[name], name  # byte for byte


def test_builder_class(fake, cache_dir):
    builder = ImagenetVariants(config_name="imagenet2012", data_dir=str(fake.root), cache_dir=cache_dir)
    builder.download_and_prepare()
    check_imagenet2012(builder.as_dataset(), fake)


def test_odd_images_are_the_expected_ones(fake):
    # Guard on the fixture itself: 2 train images and the validation image are really not RGB JPEG.
    assert fake.odd == {fakenet.train_name(*fakenet.CMYK_TRAIN), fakenet.train_name(*fakenet.PNG_TRAIN), fakenet.val_name(19877)}
    assert jpeg_components(fake.images[fakenet.train_name(*fakenet.CMYK_TRAIN)]) == 4
    assert jpeg_components(fake.images[fakenet.train_name(*fakenet.GRAY_TRAIN)]) == 1


def test_load_variant_helper_with_split(fake, cache_dir):
    val = load_variant("imagenet2012", data_dir=fake.root, split="validation", cache_dir=cache_dir)
    assert isinstance(val, datasets.Dataset)
    assert val["file_name"] == [n for n in val["file_name"]]  # plain strings
    assert dict(zip(val["file_name"], val["label"])) == fake.validation
    # Decoded: the CMYK validation image comes out as an RGB image.
    row = val[val["file_name"].index(fakenet.val_name(19877))]
    assert row["image"].mode == "RGB"


def test_num_proc_2_gives_the_same_rows(fake, tmp_path):
    one = load_variant("imagenet2012", data_dir=fake.root, cache_dir=tmp_path / "one")
    two = load_variant("imagenet2012", data_dir=fake.root, cache_dir=tmp_path / "two", num_proc=2)
    for split in one:
        assert rows(one[split]) == rows(two[split])


@pytest.mark.skipif(datasets_major() >= 4, reason="datasets >= 4 removed loading scripts")
@pytest.mark.parametrize("num_proc", [None, 2])
def test_load_dataset_script_on_datasets_3(fake, cache_dir, num_proc):
    dsd = datasets.load_dataset(str(SCRIPT), "imagenet2012", data_dir=str(fake.root), cache_dir=cache_dir, trust_remote_code=True, num_proc=num_proc)
    check_imagenet2012(dsd, fake)


@pytest.mark.skipif(datasets_major() < 4, reason="datasets 3.x still runs loading scripts")
def test_load_dataset_script_refused_on_datasets_4_plus(fake, cache_dir):
    # The reason load_variant exists: current datasets refuses the script path.
    with pytest.raises(Exception, match="[Ss]cripts? (are|is) no longer supported|not supported"):
        datasets.load_dataset(str(SCRIPT), "imagenet2012", data_dir=str(fake.root), cache_dir=cache_dir)


def test_splits_follow_the_tarballs_present(tmp_path, cache_dir):
    fake = fakenet.build(tmp_path / "data", train=False, test_tar_name="ILSVRC2012_img_test.tar", real=False, multilabel=False, pi=False)
    dsd = load_variant("imagenet2012", data_dir=fake.root, cache_dir=cache_dir)
    assert {k: v.num_rows for k, v in dsd.items()} == {"validation": 9, "test": 5}


def test_missing_files_error_lists_every_absent_file(tmp_path, cache_dir):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFilesError) as err:
        load_variant("imagenet2012", data_dir=tmp_path / "empty", cache_dir=cache_dir)
    message = str(err.value)
    for name in ["ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_img_test_v10102019.tar or ILSVRC2012_img_test.tar"]:
        assert name in message
    assert message.count("image-net.org") == 3
    for name in ["imagenet2012_labels.txt", "imagenet2012_validation_labels.txt"]:
        assert name in message and "https://raw.githubusercontent.com/tensorflow/datasets" in message
    assert not list((tmp_path / "cache").rglob("*.arrow"))


def test_missing_data_dir_argument(cache_dir):
    with pytest.raises(MissingFilesError, match="no data_dir was given"):
        load_variant("imagenet2012", cache_dir=cache_dir)


def _val_only(tmp_path, fake):
    data = tmp_path / "valonly"
    data.mkdir()
    shutil.copy(fake.root / "ILSVRC2012_img_val.tar", data)
    return data


def test_metadata_is_downloaded_and_checked(fake, tmp_path, cache_dir, monkeypatch):
    """Label files absent from data_dir are fetched through datasets' download manager (patched here)."""
    served = {
        "labels.txt": refdata("imagenet2012_labels.txt"),
        "validation_labels.txt": refdata("imagenet2012_validation_labels.txt"),
    }
    asked = []

    def download(self, url):
        asked.append(url)
        return str(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(datasets.DownloadManager, "download", download)
    val = load_variant("imagenet2012", data_dir=_val_only(tmp_path, fake), split="validation", cache_dir=cache_dir)
    assert sorted(u.rsplit("/", 1)[1] for u in asked) == ["labels.txt", "validation_labels.txt"]
    real_wnids = served["labels.txt"].read_text().split()
    real_val = served["validation_labels.txt"].read_text().split()
    assert val.features["label"].names == real_wnids
    assert dict(zip(val["file_name"], val["label"])) == {
        fakenet.val_name(i): real_wnids.index(real_val[i - 1]) for i in fakenet.VAL_INDICES
    }


def test_downloaded_file_with_wrong_sha256_is_refused(fake, tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(datasets.DownloadManager, "download", lambda self, url: str(fake.root / "imagenet2012_labels.txt"))
    with pytest.raises(ChecksumError, match="imagenet2012_labels.txt: sha256 is [0-9a-f]{64}, expected 70002b0f"):
        load_variant("imagenet2012", data_dir=_val_only(tmp_path, fake), cache_dir=cache_dir)
    assert not list((tmp_path / "cache").rglob("*.arrow"))


def test_generate_examples_matches_the_tables(fake, cache_dir):
    """The per-example view (GeneratorBasedBuilder API) yields the rows the table path writes."""
    builder = ImagenetVariants(config_name="imagenet2012", data_dir=str(fake.root), cache_dir=cache_dir)
    split = {g.name: g for g in builder._split_generators(datasets.DownloadManager())}["validation"]
    examples = dict(builder._generate_examples(**split.gen_kwargs))
    assert {k: (v["label"], v["image"]["bytes"] == fake.images[k] or k in fake.odd) for k, v in examples.items()} == {
        k: (label, True) for k, label in fake.validation.items()
    }
