"""Class names: WNID -> the Hub imagenet-1k name, from hf_imagenet1k_classes.json or derived from class_info.json."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import refdata

import fakenet
from imagenet_variants_lib import ChecksumError, MetadataError, MissingFilesError
from imagenet_variants_lib.class_names import class_names, id2label, label2id


def no_download(url: str) -> str:
    raise OSError(f"offline: {url}")


def write_class_info(path, synset_of) -> None:
    """A class_info.json in the upstream layout for the fake WNIDs."""
    entries = [{"cid": i, "wnid": w, "synset": synset_of(i), "gloss": "..."} for i, w in enumerate(fakenet.WNIDS)]
    path.write_text(json.dumps(entries))


def test_derived_from_class_info_equals_the_hub_names(tmp_path):
    shutil.copy(refdata("class_info.json"), tmp_path / "class_info.json")
    expected = json.loads(refdata("hf_imagenet1k_classes.json").read_text())
    names = class_names(tmp_path, download=no_download)
    assert list(names.items()) == list(expected.items())  # same names, same (sorted-WNID) order
    # The only difference from the joined synsets is the one repeated name.
    joined = {e["wnid"]: ", ".join(e["synset"]) for e in json.loads(refdata("class_info.json").read_text())}
    assert {w: n for w, n in names.items() if n != joined[w]} == {"n03126707": "crane2"}
    assert names["n02012849"] == "crane"


def test_download_is_checked_against_the_pinned_sha256(tmp_path):
    source = refdata("class_info.json")
    fetched = []

    def download(url: str) -> str:
        fetched.append(url)
        return str(shutil.copy(source, tmp_path / "downloaded.json"))

    assert class_names(None, download=download) == json.loads(refdata("hf_imagenet1k_classes.json").read_text())
    assert fetched == ["https://raw.githubusercontent.com/modestyachts/ImageNetV2/master/data/metadata/class_info.json"]


def test_download_with_wrong_sha256_is_refused(tmp_path):
    other = tmp_path / "other.json"
    write_class_info(other, lambda i: [f"class {i}"])
    with pytest.raises(ChecksumError, match="class_info.json: sha256 is"):
        class_names(tmp_path, download=lambda url: str(other))


def test_hf_classes_file_in_data_dir_wins(tmp_path):
    names = {w: f"class {i}" for i, w in enumerate(fakenet.WNIDS)}
    (tmp_path / "hf_imagenet1k_classes.json").write_text(json.dumps(names))
    write_class_info(tmp_path / "class_info.json", lambda i: ["ignored"])
    assert class_names(tmp_path, download=no_download) == names


def test_repeated_names_get_numeric_suffixes(tmp_path):
    write_class_info(tmp_path / "class_info.json", lambda i: ["crane"] if i in (3, 50, 700) else [f"class {i}", "x"])
    names = class_names(tmp_path, download=no_download)
    assert [names[fakenet.WNIDS[i]] for i in (0, 3, 50, 700)] == ["class 0, x", "crane", "crane2", "crane3"]
    assert len(set(names.values())) == 1000


def test_id2label_and_label2id_round_trip(tmp_path):
    names = {w: f"class {i}" for i, w in enumerate(fakenet.WNIDS)}
    (tmp_path / "hf_imagenet1k_classes.json").write_text(json.dumps(dict(reversed(names.items()))))  # any order
    ids = id2label(tmp_path)
    assert ids == {i: f"class {i}" for i in range(1000)}  # indexed by sorted WNID
    labels = label2id(tmp_path)
    assert {labels[name]: name for name in labels} == ids
    assert all(labels[ids[i]] == i for i in range(1000))


def test_missing_class_info_names_the_file_and_where_to_get_it(tmp_path):
    with pytest.raises(MissingFilesError, match=r"class_info.json .*downloading it from https://raw.githubusercontent.com/modestyachts"):
        class_names(tmp_path, download=no_download)
    with pytest.raises(MissingFilesError, match="does not exist"):
        class_names(tmp_path / "nowhere", download=no_download)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps([{"wnid": "n01440764", "synset": ["tench"]}]), "expected a JSON list of 1000 classes"),
        (json.dumps([{"wnid": w, "synset": []} for w in fakenet.WNIDS]), "entry 0"),
    ],
)
def test_malformed_class_info(tmp_path, content, message):
    (tmp_path / "class_info.json").write_text(content)
    with pytest.raises(MetadataError, match=message):
        class_names(tmp_path, download=no_download)


def test_malformed_hf_classes_file(tmp_path):
    (tmp_path / "hf_imagenet1k_classes.json").write_text(json.dumps({w: "same" for w in fakenet.WNIDS}))
    with pytest.raises(MetadataError, match="hf_imagenet1k_classes.json: expected a JSON object of 1000 WNIDs to distinct names"):
        class_names(tmp_path)
