"""The ILSVRC-2012 test-server file: exact content, the 100,000-image default, and every refusal."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from imagenet_variants_lib import submission
from imagenet_variants_lib.submission import SubmissionError, load_predictions, write_submission

# Three test images given out of file-name order; rows of RANKED follow NAMES.
NAMES = ["ILSVRC2012_test_00000002.JPEG", "ILSVRC2012_test_00000001.JPEG", "ILSVRC2012_test_00000003.JPEG"]
RANKED = np.array(
    [
        [0, 1, 2, 3, 4, 5],  # ...02: only the first five are written
        [999, 998, 997, 996, 995, 994],  # ...01
        [10, 20, 30, 40, 50, 60],  # ...03
    ]
)
# File-name order, 1-based ids.
EXPECTED = "1000 999 998 997 996\n1 2 3 4 5\n11 21 31 41 51\n"


def test_array_with_test_file_names(tmp_path):
    output = tmp_path / "submission.txt"
    assert write_submission(RANKED, output, test_file_names=NAMES) == 3
    assert output.read_text(encoding="ascii") == EXPECTED


def test_mapping_with_test_file_names(tmp_path):
    output = tmp_path / "submission.txt"
    mapping = {name: row.tolist() for name, row in zip(NAMES, RANKED)}
    mapping[NAMES[2]] = tuple(RANKED[2][:5])  # exactly five, numpy ints, tuple: all fine
    assert write_submission(mapping, output, test_file_names=NAMES) == 3
    assert output.read_text(encoding="ascii") == EXPECTED


def test_npy_and_json_paths(tmp_path):
    npy, js = tmp_path / "ranked.npy", tmp_path / "ranked.json"
    np.save(npy, RANKED)
    js.write_text(json.dumps({name: row.tolist() for name, row in zip(NAMES, RANKED)}))
    for source in (npy, str(js)):
        output = tmp_path / f"from_{os.path.basename(source)}.txt"
        assert write_submission(source, output, test_file_names=NAMES) == 3
        assert output.read_text(encoding="ascii") == EXPECTED


def test_load_predictions(tmp_path):
    np.save(tmp_path / "a.npy", RANKED)
    (tmp_path / "m.json").write_text('{"ILSVRC2012_test_00000001.JPEG": [1, 2, 3, 4, 5]}')
    assert np.array_equal(load_predictions(tmp_path / "a.npy"), RANKED)
    assert load_predictions(tmp_path / "m.json") == {"ILSVRC2012_test_00000001.JPEG": [1, 2, 3, 4, 5]}


def test_default_100000_test_images(tmp_path):
    # Row i (0-based) ranks classes (i, i+1, ..., i+4) mod 1000.
    ranked = (np.arange(submission.NUM_TEST_IMAGES)[:, None] + np.arange(5)) % 1000
    output = tmp_path / "submission.txt"

    assert write_submission(ranked, output) == 100_000

    lines = output.read_text(encoding="ascii").split("\n")
    assert len(lines) == 100_001 and lines[-1] == ""  # every line ends with a newline
    assert lines[0] == "1 2 3 4 5"
    assert lines[997] == "998 999 1000 1 2"
    assert lines[99_999] == "1000 1 2 3 4"  # 99,999 % 1000 = 999


def test_default_names():
    names = submission.default_test_file_names()
    assert len(names) == 100_000 and names == sorted(names)
    assert names[0] == "ILSVRC2012_test_00000001.JPEG" and names[-1] == "ILSVRC2012_test_00100000.JPEG"


def test_default_mapping_must_cover_all_names(tmp_path):
    names = submission.default_test_file_names()
    mapping = {name: [1, 2, 3, 4, 5] for name in names[1:]}
    with pytest.raises(SubmissionError, match=r"1 expected test images have no prediction .*ILSVRC2012_test_00000001"):
        write_submission(mapping, tmp_path / "s.txt")
    mapping[names[0]] = [1, 2, 3, 4, 5]
    assert write_submission(mapping, tmp_path / "s.txt") == 100_000


# ---------------------------------------------------------------- refusals


def _mapping(**changes):
    mapping = {name: row.tolist() for name, row in zip(NAMES, RANKED)}
    mapping.update(changes)
    return mapping


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        (RANKED[:, 0], r"shape \(3,\); expected \(3, >=5\)"),
        (RANKED[:, :4], r"shape \(3, 4\); expected \(3, >=5\)"),
        (RANKED[:2], r"shape \(2, 6\); expected \(3, >=5\)"),
        (RANKED[None], r"shape \(1, 3, 6\)"),
        ([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5]], "rows given have different lengths"),
        (RANKED.astype(float), "integer class indices, found dtype float64. They look like scores"),
        (RANKED > 3, "integer class indices, found dtype bool"),
        (RANKED.astype(str), "integer class indices, found dtype <U"),
        (np.where(RANKED == 30, 1000, RANKED), r"ILSVRC2012_test_00000003.JPEG are \[10, 20, 1000, 40, 50\]: .*0\.\.999"),
        (RANKED - 1, r"ILSVRC2012_test_00000002.JPEG are \[-1, 0, 1, 2, 3\]"),
        (np.where(RANKED == 40, 10, RANKED), r"ILSVRC2012_test_00000003.JPEG are \[10, 20, 30, 10, 50\]: a class is repeated"),
        ({}, "3 expected test images have no prediction"),
        (_mapping(**{"ILSVRC2012_test_00000004.JPEG": [1, 2, 3, 4, 5]}), r"1 names are not expected .*00000004"),
        (_mapping(**{NAMES[0]: [1, 2, 3, 4]}), r"predictions\['ILSVRC2012_test_00000002.JPEG'\] is \[1, 2, 3, 4\]"),
        (_mapping(**{NAMES[0]: 7}), "is 7; expected a list of at least 5"),
        (_mapping(**{NAMES[0]: "12345"}), "expected a list of at least 5"),
        (_mapping(**{NAMES[0]: [1.0, 2, 3, 4, 5]}), r"starts with \[1.0, 2, 3, 4, 5\]; class ids must be integers"),
        (_mapping(**{NAMES[0]: [True, 2, 3, 4, 5]}), "class ids must be integers"),
        (_mapping(**{NAMES[0]: [None, 2, 3, 4, 5]}), "class ids must be integers"),
        (_mapping(**{NAMES[0]: [5, 4, 3, 2, 5, 9]}), r"are \[5, 4, 3, 2, 5\]: a class is repeated"),
        (_mapping(**{NAMES[0]: [0, 1, 2, 3, 1000]}), r"are \[0, 1, 2, 3, 1000\]: class indices must be 0-based"),
    ],
)
def test_refusals_leave_no_file(tmp_path, predictions, message):
    output = tmp_path / "submission.txt"
    with pytest.raises(SubmissionError, match=message):
        write_submission(predictions, output, test_file_names=NAMES)
    assert list(tmp_path.iterdir()) == []


def test_default_shape_is_100000(tmp_path):
    with pytest.raises(SubmissionError, match=r"shape \(3, 6\); expected \(100000, >=5\)"):
        write_submission(RANKED, tmp_path / "s.txt")


def test_submission_error_is_a_value_error():
    assert issubclass(SubmissionError, ValueError)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([NAMES[0], NAMES[1], NAMES[0]], "lists 'ILSVRC2012_test_00000002.JPEG' more than once"),
        ([], "test_file_names is empty"),
        ("ILSVRC2012_test_00000001.JPEG", "not a single string"),
        ([NAMES[0], NAMES[1], 3], "must hold strings, found 3"),
    ],
)
def test_bad_test_file_names(tmp_path, names, message):
    with pytest.raises(SubmissionError, match=message):
        write_submission(RANKED, tmp_path / "s.txt", test_file_names=names)


def test_refused_input_keeps_existing_file(tmp_path):
    output = tmp_path / "submission.txt"
    output.write_text("previous\n")
    with pytest.raises(SubmissionError):
        write_submission(RANKED[:, :4], output, test_file_names=NAMES)
    assert output.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["submission.txt"]


def test_failed_write_removes_temporary_file(tmp_path, monkeypatch):
    output = tmp_path / "submission.txt"
    output.write_text("previous\n")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(submission.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_submission(RANKED, output, test_file_names=NAMES)
    assert output.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["submission.txt"]


def test_missing_output_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        write_submission(RANKED, tmp_path / "absent" / "s.txt", test_file_names=NAMES)


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("p.txt", "1 2 3 4 5", r"unsupported file type '\.txt'"),
        ("p", "1 2 3 4 5", r"unsupported file type '\(none\)'"),
        ("p.json", "[[1, 2, 3, 4, 5]]", "expected a JSON object .* found a JSON list"),
        ("p.json", '{"a": [1, 2,', "invalid JSON at line 1"),
        ("p.npy", b"not an npy file", "not a plain numeric .npy array"),
    ],
)
def test_load_predictions_refusals(tmp_path, file_name, content, message):
    path = tmp_path / file_name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(SubmissionError, match=message):
        load_predictions(path)


def test_load_predictions_refuses_pickled_npy(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[1, 2, 3, 4, 5], None], dtype=object), allow_pickle=True)
    with pytest.raises(SubmissionError, match="not a plain numeric .npy array"):
        load_predictions(path)
