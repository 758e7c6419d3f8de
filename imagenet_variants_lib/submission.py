"""Write the ILSVRC-2012 test-server submission file from a model's ranked predictions.

The format (../shared/refdata/FORMATS.md, "Test-server submission"): one line per test image, in
file-name order (`ILSVRC2012_test_00000001.JPEG` first), each holding the image's top-5 predicted
classes as space-separated **1-based** class ids, i.e. class index + 1 in sorted-WNID order::

    66 67 65 110 104
    ...

Everything is checked before anything is written, and the file is written under a temporary name
and renamed into place, so a refused or interrupted run never leaves a partial submission behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Union

import numpy as np

from .errors import SubmissionError
from .fileutil import write_atomic

# ILSVRC-2012: 1000 classes; 100,000 test images named ILSVRC2012_test_00000001.JPEG ... (FORMATS.md).
NUM_CLASSES = 1000
NUM_TEST_IMAGES = 100_000
TEST_FILE_NAME = "ILSVRC2012_test_{:08d}.JPEG"
# The test server scores the first five labels of each line (top-5 error).
TOP_K = 5

Predictions = Union[np.ndarray, Mapping[str, Sequence[int]], str, os.PathLike]



def default_test_file_names() -> list[str]:
    """The 100,000 ILSVRC-2012 test file names, in file-name order."""
    return [TEST_FILE_NAME.format(i) for i in range(1, NUM_TEST_IMAGES + 1)]


def load_predictions(path: str | os.PathLike) -> np.ndarray | dict[str, list[int]]:
    """Reads ranked predictions saved as ``.npy`` (an integer array, no pickles) or ``.json``.

    The ``.json`` file must hold one object mapping test file names to lists of ranked class indices,
    e.g. ``{"ILSVRC2012_test_00000001.JPEG": [65, 66, 64, 109, 103], ...}``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as error:  # object arrays, or not an .npy file at all
            raise SubmissionError(
                f"{path}: not a plain numeric .npy array ({error}). Save an integer array of shape "
                "(num_images, >=5) with np.save(path, ranked.astype(np.int64))."
            ) from None
    if suffix == ".json":
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except json.JSONDecodeError as error:
            raise SubmissionError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}.") from None
        if not isinstance(data, dict):
            raise SubmissionError(
                f"{path}: expected a JSON object mapping test file name to a list of ranked class indices, "
                f"found a JSON {type(data).__name__}."
            )
        return data
    raise SubmissionError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; save predictions as .npy (array in "
        "test-file-name order) or .json (object: test file name -> ranked class indices)."
    )


def write_submission(
    predictions: Predictions,
    output: str | os.PathLike,
    test_file_names: Sequence[str] | None = None,
) -> int:
    """Writes the ILSVRC-2012 test-server file and returns the number of lines written.

    Args:
        predictions: the ranked class indices (0-based, sorted-WNID order, most likely first; at
            least 5 per image, only the first 5 are used) as one of
            - an integer array of shape ``(n, >=5)``, row *i* for the *i*-th test file name (the
              100,000 names in file-name order, or ``test_file_names`` in the order given);
            - a mapping from test file name to its ranked classes, covering every expected name once;
            - a path to a ``.npy`` or ``.json`` file holding either (see :func:`load_predictions`).
        output: the submission file to write (its folder must exist); replaced if present.
        test_file_names: the test images to expect, for a subset or for tests. Defaults to the
            100,000 names ``ILSVRC2012_test_00000001.JPEG`` ... ``ILSVRC2012_test_00100000.JPEG``.

    Lines are written in sorted file-name order whatever the input order. Raises
    :class:`SubmissionError` (a ``ValueError``) for a wrong shape, missing or extra file names,
    non-integer ids, ids outside 0..999 or a class repeated within an image's top 5.
    """
    names = _expected_names(test_file_names)
    if isinstance(predictions, (str, os.PathLike)):
        predictions = load_predictions(predictions)
    if isinstance(predictions, Mapping):
        ordered_names, top = _top_from_mapping(predictions, names)
    else:
        ordered_names, top = _top_from_array(predictions, names)
    _check_top(top, ordered_names)
    lines = "".join(f"{' '.join(map(str, row))}\n" for row in (top + 1).tolist())
    write_atomic(Path(output), lines, encoding="ascii")
    return len(ordered_names)


def _expected_names(test_file_names: Sequence[str] | None) -> list[str]:
    """The expected test file names, checked for type and duplicates (default: all 100,000)."""
    if test_file_names is None:
        return default_test_file_names()
    if isinstance(test_file_names, str):
        raise SubmissionError("test_file_names must be a list of file names, not a single string.")
    names = list(test_file_names)
    if not names:
        raise SubmissionError("test_file_names is empty; give the names of the test images to submit.")
    not_str = next((name for name in names if not isinstance(name, str)), None)
    if not_str is not None:
        raise SubmissionError(f"test_file_names must hold strings, found {not_str!r}.")
    if len(set(names)) != len(names):
        seen: set[str] = set()
        duplicate = next(name for name in names if name in seen or seen.add(name))
        raise SubmissionError(f"test_file_names lists {duplicate!r} more than once.")
    return names


def _top_from_array(predictions, names: list[str]) -> tuple[list[str], np.ndarray]:
    """Rows of an (n, >=5) array -> (names in file-name order, their top-5 rows in that order)."""
    try:
        array = np.asarray(predictions)
    except ValueError:  # ragged nested lists
        raise SubmissionError(
            "predictions must be an array of shape (num_images, >=5); the rows given have different lengths."
        ) from None
    if array.ndim != 2 or array.shape[0] != len(names) or array.shape[1] < TOP_K:
        raise SubmissionError(
            f"predictions has shape {array.shape}; expected ({len(names)}, >={TOP_K}): one row of at least "
            f"{TOP_K} ranked class indices per test image, rows in test-file-name order."
        )
    if not np.issubdtype(array.dtype, np.integer):
        hint = " They look like scores: pass scores.argsort(axis=1)[:, ::-1]." if array.dtype.kind == "f" else ""
        raise SubmissionError(
            f"predictions must hold integer class indices, found dtype {array.dtype}.{hint}"
        )
    order = sorted(range(len(names)), key=names.__getitem__)
    return [names[i] for i in order], array[order, :TOP_K].astype(np.int64)


def _top_from_mapping(predictions: Mapping, names: list[str]) -> tuple[list[str], np.ndarray]:
    """A mapping file name -> ranked classes -> (expected names sorted, their top-5 rows in that order)."""
    expected = set(names)
    given = set(predictions)
    missing, extra = sorted(expected - given), sorted(given - expected, key=str)
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"{len(missing)} expected test images have no prediction (first: {missing[:3]})")
        if extra:
            problems.append(f"{len(extra)} names are not expected test images (first: {extra[:3]})")
        raise SubmissionError(
            f"predictions must map each of the {len(names)} test file names to its ranked classes: "
            + "; ".join(problems) + "."
        )
    ordered_names = sorted(names)
    rows = []
    for name in ordered_names:
        ranked = predictions[name]
        if isinstance(ranked, (str, bytes)) or not hasattr(ranked, "__len__") or len(ranked) < TOP_K:
            raise SubmissionError(
                f"predictions[{name!r}] is {ranked!r}; expected a list of at least {TOP_K} ranked class indices."
            )
        row = list(ranked[:TOP_K])
        if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in row):
            raise SubmissionError(f"predictions[{name!r}] starts with {row}; class ids must be integers (0..999).")
        rows.append(row)
    return ordered_names, np.array(rows, dtype=np.int64)


def _check_top(top: np.ndarray, names: list[str]) -> None:
    """Refuses class indices outside 0..999 and classes repeated within an image's top 5."""
    out_of_range = np.nonzero(((top < 0) | (top >= NUM_CLASSES)).any(axis=1))[0]
    if len(out_of_range):
        row = out_of_range[0]
        raise SubmissionError(
            f"The top {TOP_K} of {names[row]} are {top[row].tolist()}: class indices must be 0-based, "
            f"in 0..{NUM_CLASSES - 1} (the file gets index + 1 written for you)."
        )
    ordered = np.sort(top, axis=1)
    repeated = np.nonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))[0]
    if len(repeated):
        row = repeated[0]
        raise SubmissionError(
            f"The top {TOP_K} of {names[row]} are {top[row].tolist()}: a class is repeated; "
            f"give {TOP_K} different classes, ranked."
        )
