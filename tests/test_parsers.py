"""Unit tests of the pure metadata parsers and the image header checks, including the real metadata."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import refdata
from PIL import Image

import fakenet
from imagenet_variants_lib import MetadataError, parsers
from imagenet_variants_lib.images import is_rgb_jpeg, jpeg_components, to_rgb_jpeg
from imagenet_variants_lib.errors import ImageError

CLASS_INDEX = {w: i for i, w in enumerate(fakenet.WNIDS)}


def test_class_list_errors_name_the_line(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(fakenet.WNIDS[:5] + ["tench"] + fakenet.WNIDS[6:]) + "\n")
    with pytest.raises(MetadataError, match=r"labels.txt, line 6: expected a WNID like n01440764, found 'tench'"):
        parsers.read_class_list(path)
    path.write_text("\n".join(fakenet.WNIDS[:999]) + "\n")
    with pytest.raises(MetadataError, match="expected 1000 distinct WNIDs"):
        parsers.read_class_list(path)


def test_validation_labels_use_8_digit_names(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(f"{fakenet.WNIDS[3]}\n{fakenet.WNIDS[0]}\n")
    assert parsers.read_validation_labels(path, CLASS_INDEX) == {"ILSVRC2012_val_00000001.JPEG": 3, "ILSVRC2012_val_00000002.JPEG": 0}
    path.write_text(f"{fakenet.WNIDS[3]}\nn99999999\n")
    with pytest.raises(MetadataError, match=r"v.txt, line 2: 'n99999999' is not one of the 1000 WNIDs"):
        parsers.read_validation_labels(path, CLASS_INDEX)


def test_real_json_rejects_bad_content(tmp_path):
    path = tmp_path / "real.json"
    path.write_text("{not json")
    with pytest.raises(MetadataError, match="real.json: not valid JSON"):
        parsers.read_real(path)
    path.write_text(json.dumps([[1]] * 49_999))
    with pytest.raises(MetadataError, match="expected a JSON list of 50000 lists .* found a list of 49999"):
        parsers.read_real(path)
    path.write_text(json.dumps([[1]] * 49_999 + [[1000]]))
    with pytest.raises(MetadataError, match=r"entry 49999 \(ILSVRC2012_val_00050000.JPEG\)"):
        parsers.read_real(path)


def test_real_json_real_file():
    real = parsers.read_real(refdata("real.json"))
    assert len(real) == 50_000
    assert sum(1 for v in real.values() if not v) == 3_163
    assert sum(1 for v in real.values() if len(v) > 1) == 7_443
    assert list(real)[0] == "ILSVRC2012_val_00000001.JPEG"


def test_real_json_scores_the_original_labels_as_published():
    wnids = parsers.read_class_list(refdata("imagenet2012_labels.txt"))
    original = parsers.read_validation_labels(refdata("imagenet2012_validation_labels.txt"), {w: i for i, w in enumerate(wnids)})
    real = parsers.read_real(refdata("real.json"))
    counted = [n for n, v in real.items() if v]
    correct = sum(original[n] in real[n] for n in counted)
    assert (correct, len(counted)) == (42_164, 46_837)  # FORMATS.md: 90.023 %


def test_multilabel_sample_file():
    path = refdata("human_accuracy_sample.json")
    wnids = parsers.read_class_list(refdata("imagenet2012_labels.txt"))
    annotations, imagenet_m = parsers.read_multilabel(path, {w: i for i, w in enumerate(wnids)})
    raw = json.loads(path.read_text())
    val_keys = [k for k in raw["initial_annots"] if k.startswith("ILSVRC2012_val_")]
    assert len(annotations) == len(val_keys) == len(raw["initial_annots"]) - 1  # one ImageNetV2 key skipped
    assert imagenet_m == raw["imagenet_m"]
    assert sum(a.is_problematic for a in annotations.values()) == len(set(raw["problematic_images"]) & set(val_keys))
    first = annotations["ILSVRC2012_val_00000005.JPEG"]
    assert first.correct == [wnids.index("n03125729"), wnids.index("n04399382")]
    assert first.unclear == [wnids.index("n03131574"), wnids.index("n02804414")]
    assert len(first.wrong) == 6


def test_multilabel_rejects_missing_keys_and_unknown_wnids(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"initial_annots": {}, "imagenet_m": []}))
    with pytest.raises(MetadataError, match=r"missing top-level key\(s\) \['problematic_images'\]"):
        parsers.read_multilabel(path, CLASS_INDEX)
    path.write_text(json.dumps({"initial_annots": {"ILSVRC2012_val_00000001.JPEG": {"correct": ["n00000000"]}}, "problematic_images": {}, "imagenet_m": []}))
    with pytest.raises(MetadataError, match=r"ILSVRC2012_val_00000001.JPEG'\]\.correct: unknown WNID\(s\) \['n00000000'\]"):
        parsers.read_multilabel(path, CLASS_INDEX)


def _pi_files(tmp_path, label_rows, conf_rows):
    lp, cp = tmp_path / "labels.csv", tmp_path / "conf.csv"
    lp.write_text("".join(row + "\n" for row in label_rows))
    cp.write_text("".join(row + "\n" for row in conf_rows))
    return lp, cp


def _row(name, values):
    return ",".join([name, *map(str, values)])


def test_pi_parse_and_join_by_name(tmp_path):
    names = [fakenet.train_name(0, k) for k in range(3)]
    lp, cp = _pi_files(
        tmp_path,
        [_row(n, [k] * 16) for k, n in enumerate(names)],
        [_row(n, [k / 10] * 16) for k, n in reversed(list(enumerate(names)))],  # other row order
    )
    table = parsers.read_pi(lp, cp)
    assert table.column("file_name").to_pylist() == names
    labels = np.array(table.column("annotator_labels").to_pylist())
    conf = np.array(table.column("annotator_confidences").to_pylist())
    assert (labels == np.arange(3)[:, None]).all()
    np.testing.assert_allclose(conf, np.repeat([[0.0], [0.1], [0.2]], 16, axis=1), atol=1e-7)


@pytest.mark.parametrize(
    "labels, confs, match",
    [
        (["a.JPEG," + ",".join(["1"] * 16), "b.JPEG," + ",".join(["1"] * 17)], None, r"labels.csv, line 2: expected a file name and 16 class indices .* found 18"),
        (["a.JPEG," + ",".join(["1"] * 16), "b.JPEG," + ",".join(["1"] * 15 + ["x"])], None, r"labels.csv, line 2: column 17 is 'x'"),
        (["a.JPEG," + ",".join(["1"] * 16), "b.JPEG," + ",".join(["1000"] + ["1"] * 15)], None, r"labels.csv, line 2: value 2 is 1000; expected a class index in 0..999"),
        (None, ["a.JPEG," + ",".join(["0.5"] * 16), "b.JPEG," + ",".join(["0.5"] * 15 + ["1.5"])], r"conf.csv, line 2: value 17 is 1.5; expected a confidence in \[0, 1\]"),
        (None, ["a.JPEG," + ",".join(["0.5"] * 16), "", "b.JPEG," + ",".join(["0.5"] * 16)], r"conf.csv, line 2 is empty; expected a file name and 16 confidences"),
    ],
)
def test_pi_malformed_rows(tmp_path, labels, confs, match):
    good_labels = ["a.JPEG," + ",".join(["1"] * 16), "b.JPEG," + ",".join(["1"] * 16)]
    good_confs = ["a.JPEG," + ",".join(["0.5"] * 16), "b.JPEG," + ",".join(["0.5"] * 16)]
    lp, cp = _pi_files(tmp_path, labels or good_labels, confs or good_confs)
    with pytest.raises(MetadataError, match=match):
        parsers.read_pi(lp, cp)


def test_pi_files_with_different_images(tmp_path):
    lp, cp = _pi_files(tmp_path, ["a.JPEG," + ",".join(["1"] * 16)], ["b.JPEG," + ",".join(["0.5"] * 16)])
    with pytest.raises(MetadataError, match=r"list different images .* e.g. \['a.JPEG', 'b.JPEG'\]"):
        parsers.read_pi(lp, cp)


def test_annotator_features(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("1,2\n" * 15 + "1\n")
    with pytest.raises(MetadataError, match=r"f.csv, line 16: expected 2 numbers"):
        parsers.read_annotator_features(path)


def _encode(mode: str, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (8, 8), 100 if mode == "L" else None).save(out, format=fmt)
    return out.getvalue()


def test_image_header_detection():
    assert jpeg_components(_encode("RGB")) == 3 and is_rgb_jpeg(_encode("RGB"))
    assert jpeg_components(_encode("L")) == 1 and is_rgb_jpeg(_encode("L"))
    assert jpeg_components(_encode("CMYK")) == 4 and not is_rgb_jpeg(_encode("CMYK"))
    assert jpeg_components(_encode("RGB", "PNG")) is None
    for odd in (_encode("CMYK"), _encode("RGB", "PNG"), _encode("RGB", "GIF")):
        assert not is_rgb_jpeg(odd)
        fixed = to_rgb_jpeg(odd)
        assert jpeg_components(fixed) == 3
        with Image.open(io.BytesIO(fixed)) as img:
            assert (img.format, img.mode) == ("JPEG", "RGB")


def test_unreadable_image_names_the_member():
    with pytest.raises(ImageError, match=r"train.tar -> n1.tar: n1_1.JPEG: not a readable image"):
        to_rgb_jpeg(b"\xff\xd8garbage", "train.tar -> n1.tar: n1_1.JPEG")
