"""End-to-end: the real, multilabel and ImageNet-PI configs on the fake ImageNet."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from conftest import SCRIPT, datasets_major

import fakenet
from imagenet_variants import CONFIGS, ImagenetVariants
from imagenet_variants_lib import ANNOTATORS, CONFIG_NAMES, MetadataError, MissingFilesError, annotator_info, load_variant


def by_name(ds: datasets.Dataset) -> dict[str, dict]:
    return {r["file_name"]: r for r in ds.remove_columns("image")}


def test_config_table_matches_the_cli_list():
    assert tuple(c.name for c in CONFIGS) == CONFIG_NAMES


def test_real(fake, cache_dir):
    ds = load_variant("real", data_dir=fake.root, split="validation", cache_dir=cache_dir)
    assert ds.num_rows == len(fakenet.VAL_INDICES)
    assert list(ds.features) == ["image", "original_label", "real_label", "file_name"]
    got = by_name(ds)
    for i in fakenet.VAL_INDICES:
        row = got[fakenet.val_name(i)]
        assert row["original_label"] == fakenet.val_label(i)
        assert row["real_label"] == fakenet.real_labels(i)
    assert got[fakenet.val_name(500)]["real_label"] == []  # empty ReaL lists are kept
    assert got[fakenet.val_name(3)]["real_label"] == [(fakenet.val_label(3) + 5) % 1000, fakenet.val_label(3)]  # order kept


def test_multilabel(fake, cache_dir):
    dsd = load_variant("multilabel", data_dir=fake.root, cache_dir=cache_dir)
    assert {k: v.num_rows for k, v in dsd.items()} == {"validation": 5, "imagenet_m": 2}
    val = by_name(dsd["validation"])
    assert set(val) == set(fake.multilabel)  # the ImageNetV2 entry is skipped
    for name, expected in fake.multilabel.items():
        row = val[name]
        assert row["correct_multi_labels"] == expected["correct"]
        assert row["wrong_multi_labels"] == expected["wrong"]
        assert row["unclear_multi_labels"] == expected["unclear"]
        assert row["is_problematic"] == expected["is_problematic"]
        assert row["original_label"] == fake.validation[name]
    assert [n for n, r in val.items() if r["is_problematic"]] == [fakenet.val_name(64)]
    assert sorted(dsd["imagenet_m"]["file_name"]) == sorted(fake.imagenet_m)
    # The CMYK validation image is in ImageNet-M: it is converted there too.
    m = dsd["imagenet_m"]
    assert m[m["file_name"].index(fakenet.val_name(19877))]["image"].mode == "RGB"


@pytest.mark.parametrize("config, level", [("pi_low_noise", "low_noise"), ("pi_high_noise", "high_noise")])
def test_pi(fake, cache_dir, config, level):
    dsd = load_variant(config, data_dir=fake.root, cache_dir=cache_dir)
    assert {k: v.num_rows for k, v in dsd.items()} == {"train": 20, "validation": 9}
    assert list(dsd["train"].features) == ["image", "clean_label", "annotator_labels", "annotator_confidences", "file_name"]
    for split, truth in (("train", fake.train), ("validation", fake.validation)):
        ds = dsd[split].select_columns(["clean_label", "annotator_labels", "annotator_confidences"]).with_format("numpy")[:]
        labels, clean = ds["annotator_labels"], ds["clean_label"]
        assert labels.shape == (len(truth), 16)
        assert dict(zip(dsd[split]["file_name"], clean.tolist())) == truth
        agreement = float((labels == clean[:, None]).mean())
        assert agreement == pytest.approx(fake.pi_agreement[(level, split)], abs=1e-12)
        assert ds["annotator_confidences"].dtype == np.float32
        np.testing.assert_allclose(ds["annotator_confidences"][0], [(j + 1) / 17 for j in range(16)], atol=1e-6)


def test_pi_agreement_differs_between_levels(fake):
    # Guard on the fixture: the two levels were built with different agreement.
    assert fake.pi_agreement[("low_noise", "train")] == 0.5
    assert fake.pi_agreement[("high_noise", "train")] == pytest.approx(1 / 6, abs=0.05)


def test_annotator_info(fake):
    info = annotator_info("pi_high_noise", data_dir=fake.root)
    assert [a["name"] for a in info] == list(ANNOTATORS) and len(ANNOTATORS) == 16
    assert info[0]["normalized_accuracy"] == pytest.approx(-0.8) and info[15]["normalized_log_num_parameters"] == pytest.approx(1.75)
    assert "ResNet50V2, ResNet101V2" in ImagenetVariants(config_name="pi_low_noise").info.description


def test_malformed_pi_row_rejected_with_file_and_line(fake_copy, cache_dir):
    path = fake_copy.root / "imagenet_pi" / "low_noise" / "labels" / "train.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]  # 15 labels on line 4
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MetadataError, match=r"labels/train\.csv, line 4: expected a file name and 16"):
        load_variant("pi_low_noise", data_dir=fake_copy.root, cache_dir=cache_dir)


def test_pi_image_without_row_is_an_error(fake_copy, cache_dir):
    for kind in ("labels", "confidences"):
        path = fake_copy.root / "imagenet_pi" / "high_noise" / kind / "train.csv"
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[2:]) + "\n")
    with pytest.raises(MetadataError, match=r"2 image\(s\) of .*ILSVRC2012_img_train.tar have no row in .*high_noise/labels/train.csv"):
        load_variant("pi_high_noise", data_dir=fake_copy.root, cache_dir=cache_dir)


@pytest.mark.parametrize("config", ["real", "multilabel", "pi_low_noise"])
def test_num_proc_2(fake, tmp_path, config):
    one = load_variant(config, data_dir=fake.root, cache_dir=tmp_path / "one")
    two = load_variant(config, data_dir=fake.root, cache_dir=tmp_path / "two", num_proc=2)
    for split in one:
        assert by_name(one[split]) == by_name(two[split])


@pytest.mark.skipif(datasets_major() >= 4, reason="datasets >= 4 removed loading scripts")
@pytest.mark.parametrize("config", ["real", "multilabel", "pi_low_noise", "pi_high_noise"])
def test_load_dataset_script_on_datasets_3(fake, cache_dir, config):
    dsd = datasets.load_dataset(str(SCRIPT), config, data_dir=str(fake.root), cache_dir=cache_dir, trust_remote_code=True)
    expected = load_variant(config, data_dir=fake.root, cache_dir=cache_dir + "-class")
    assert sorted(dsd) == sorted(expected)
    for split in dsd:
        assert by_name(dsd[split]) == by_name(expected[split])


@pytest.mark.parametrize(
    "config, needs",
    [
        ("real", ["ILSVRC2012_img_val.tar", "real.json", "imagenet2012_labels.txt", "imagenet2012_validation_labels.txt"]),
        ("multilabel", ["ILSVRC2012_img_val.tar", "human_accuracy_v3.0.0.json", "imagenet2012_labels.txt"]),
        (
            "pi_high_noise",
            ["ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "imagenet_pi/high_noise/labels/train.csv",
             "imagenet_pi/high_noise/confidences/validation.csv", "imagenet_pi/high_noise/labels/validation.csv",
             "imagenet_pi/high_noise/confidences/train.csv"],
        ),
    ],
)
def test_missing_files_error_lists_what_the_config_needs(tmp_path, cache_dir, config, needs):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFilesError) as err:
        load_variant(config, data_dir=tmp_path / "empty", cache_dir=cache_dir)
    for name in needs:
        assert name in str(err.value)
