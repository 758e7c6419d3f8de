"""Pure parsers of the metadata files: each returns a mapping keyed by original image file name.

Formats: ../shared/refdata/FORMATS.md. Every error names the file and, where one applies, the
1-based line (text files) or the entry (JSON) and says what was expected.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .errors import MetadataError

NUM_CLASSES = 1000  # ILSVRC-2012 classes (FORMATS.md)
NUM_VALIDATION = 50_000  # validation images, entries of real.json (FORMATS.md)
NUM_ANNOTATORS = 16  # ImageNet-PI model annotators (spec/imagenet_pi_readme.md)

_WNID = re.compile(r"n\d{8}")


def validation_file_name(index: int) -> str:
    """File name of the 1-based ``index``-th validation image: 8 digits, as in the real tar."""
    return f"ILSVRC2012_val_{index:08d}.JPEG"


def _lines(path: str | os.PathLike) -> list[str]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_class_list(path: str | os.PathLike) -> list[str]:
    """The 1000 WNIDs of ``imagenet2012_labels.txt``; line i (0-based) is class index i."""
    lines = [line.strip() for line in _lines(path)]
    for i, wnid in enumerate(lines, 1):
        if not _WNID.fullmatch(wnid):
            raise MetadataError(f"{path}, line {i}: expected a WNID like n01440764, found {wnid!r}.")
    if len(lines) != NUM_CLASSES or len(set(lines)) != NUM_CLASSES:
        raise MetadataError(f"{path}: expected {NUM_CLASSES} distinct WNIDs, one per line; found {len(lines)} lines ({len(set(lines))} distinct).")
    if lines != sorted(lines):
        raise MetadataError(f"{path}: WNIDs must be sorted (class index = position in sorted order); use the TFDS labels.txt.")
    return lines


def read_validation_labels(path: str | os.PathLike, class_index: dict[str, int]) -> dict[str, int]:
    """``imagenet2012_validation_labels.txt``: line i labels ``ILSVRC2012_val_%08d.JPEG % i``."""
    out = {}
    for i, wnid in enumerate(_lines(path), 1):
        label = class_index.get(wnid.strip())
        if label is None:
            raise MetadataError(f"{path}, line {i}: {wnid.strip()!r} is not one of the 1000 WNIDs of imagenet2012_labels.txt.")
        out[validation_file_name(i)] = label
    return out


def read_real(path: str | os.PathLike) -> dict[str, list[int]]:
    """``real.json``: entry i (0-based) is the list of ReaL labels of validation image i + 1."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: not valid JSON ({exc}). Download real.json again from the ReaL repository.") from exc
    if not isinstance(entries, list) or len(entries) != NUM_VALIDATION:
        found = f"a list of {len(entries)}" if isinstance(entries, list) else type(entries).__name__
        raise MetadataError(f"{path}: expected a JSON list of {NUM_VALIDATION} lists of class indices, found {found}.")
    out = {}
    for i, labels in enumerate(entries):
        if not isinstance(labels, list) or not all(type(x) is int and 0 <= x < NUM_CLASSES for x in labels):
            raise MetadataError(f"{path}, entry {i} ({validation_file_name(i + 1)}): expected a list of class indices in 0..999, found {labels!r}.")
        out[validation_file_name(i + 1)] = labels
    return out


@dataclass(frozen=True)
class MultiLabels:
    """Annotations of one validation image in the multilabel JSON (class indices)."""

    correct: list[int]
    wrong: list[int]
    unclear: list[int]
    is_problematic: bool


def read_multilabel(path: str | os.PathLike, class_index: dict[str, int]) -> tuple[dict[str, MultiLabels], list[str]]:
    """``human_accuracy_v3.0.0.json`` streamed with ijson: (annotations of validation images, ImageNet-M names).

    Entries of ``initial_annots`` that are not ILSVRC-2012 validation images (ImageNetV2) are skipped.
    """
    import ijson  # streaming: the real file is 200 MB

    top_keys, problematic, imagenet_m = set(), set(), []
    try:
        with open(path, "rb") as f:
            for prefix, event, value in ijson.parse(f):
                if prefix == "" and event == "map_key":
                    top_keys.add(value)
                elif prefix == "problematic_images" and event == "map_key":
                    problematic.add(value)
                elif prefix == "imagenet_m.item":
                    imagenet_m.append(value)
        missing = {"initial_annots", "problematic_images", "imagenet_m"} - top_keys
        if missing:
            raise MetadataError(
                f"{path}: missing top-level key(s) {sorted(missing)}; expected initial_annots, problematic_images and "
                f"imagenet_m (version 3.0.0 of the file). Download human_accuracy_v3.0.0.json again."
            )
        annotations = {}
        with open(path, "rb") as f:
            for name, entry in ijson.kvitems(f, "initial_annots"):
                if not name.startswith("ILSVRC2012_val_"):
                    continue
                lists = [_class_indices(path, name, entry, kind, class_index) for kind in ("correct", "wrong", "unclear")]
                annotations[name] = MultiLabels(*lists, is_problematic=name in problematic)
    except ijson.JSONError as exc:
        raise MetadataError(f"{path}: not valid JSON ({exc}). Download human_accuracy_v3.0.0.json again.") from exc
    bad_m = [n for n in imagenet_m if not isinstance(n, str) or n not in annotations]
    if bad_m:
        raise MetadataError(f"{path}: imagenet_m lists {len(bad_m)} name(s) that are not annotated validation images, e.g. {bad_m[:3]}.")
    return annotations, imagenet_m


def _class_indices(path, name: str, entry, kind: str, class_index: dict[str, int]) -> list[int]:
    if not isinstance(entry, dict):
        raise MetadataError(f"{path}, initial_annots[{name!r}]: expected an object with correct/wrong/unclear lists, found {entry!r}.")
    wnids = entry.get(kind, [])
    unknown = [w for w in wnids if w not in class_index]
    if unknown or not isinstance(wnids, list):
        raise MetadataError(f"{path}, initial_annots[{name!r}].{kind}: unknown WNID(s) {unknown[:3] or wnids!r}; expected WNIDs of imagenet2012_labels.txt.")
    return [class_index[w] for w in wnids]


def _read_number_csv(path: str | os.PathLike, value_type: pa.DataType, what: str) -> tuple[pa.Array, np.ndarray]:
    """A headerless CSV of ``file_name,v1..v16``: (file names, n x 16 matrix); any bad row raises with its 1-based line.

    Streamed block by block (4 MB) into numpy, so memory stays near the size of the result.
    """
    names = ["file_name"] + [f"v{i}" for i in range(NUM_ANNOTATORS)]
    bad_rows = []

    def on_invalid(row) -> str:
        bad_rows.append(row)
        return "skip"

    def read(types: dict, use_threads: bool) -> pa.Table:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, use_threads=use_threads, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False),
        )

    types = {"file_name": pa.string(), **{n: value_type for n in names[1:]}}
    file_names, blocks, error = [], [], None
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        for batch in reader:
            if any(batch.column(i).null_count for i in range(1, len(names))):
                error = "empty value"
                break
            file_names.append(batch.column(0))
            blocks.append(np.column_stack([batch.column(i).to_numpy() for i in range(1, len(names))]))
    except pa.ArrowInvalid as exc:
        error = exc
    if bad_rows or error is not None:
        # Slow path, for the error message only: re-read as text on one thread to find the line.
        bad_rows.clear()
        text = read({n: pa.string() for n in names}, use_threads=False)
        if bad_rows:
            row = bad_rows[0]
            raise MetadataError(
                f"{path}, line {row.number}: expected a file name and {NUM_ANNOTATORS} {what} ({len(names)} values), "
                f"found {row.actual_columns}: {row.text[:120]!r}."
            )
        pattern = r"-?\d+" if pa.types.is_integer(value_type) else r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|NaN"
        empty = np.flatnonzero(pc.equal(pc.binary_join_element_wise(*[text[n] for n in names], ""), "").to_numpy(zero_copy_only=False))
        if len(empty):
            raise MetadataError(f"{path}, line {int(empty[0]) + 1} is empty; expected a file name and {NUM_ANNOTATORS} {what}. Remove the blank line.")
        for col in names[1:]:
            ok = pc.match_substring_regex(pc.utf8_trim_whitespace(text[col]), f"^({pattern})$")
            bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
            if len(bad):
                line = int(bad[0]) + 1
                raise MetadataError(f"{path}, line {line}: column {names.index(col) + 1} is {text[col][int(bad[0])].as_py()!r}, expected one of {NUM_ANNOTATORS} {what}.")
        raise MetadataError(f"{path}: cannot be read as CSV ({error}).")
    if not blocks:
        raise MetadataError(f"{path}: the file is empty; expected one line per image.")
    return pa.chunked_array(file_names, pa.string()).combine_chunks(), np.concatenate(blocks)


def _first_bad(values: np.ndarray, ok: np.ndarray, path, what: str) -> None:
    bad_rows = np.flatnonzero(~ok.all(axis=1))
    if len(bad_rows):
        row = int(bad_rows[0])
        col = int(np.flatnonzero(~ok[row])[0])
        raise MetadataError(f"{path}, line {row + 1}: value {col + 2} is {values[row, col].item()!r}; {what}.")


def read_pi(labels_path: str | os.PathLike, confidences_path: str | os.PathLike) -> pa.Table:
    """ImageNet-PI labels + confidences CSVs -> table ``file_name``, ``annotator_labels``, ``annotator_confidences``.

    Columnar (pyarrow, streamed): the train files have 1.28 M rows. Every row is validated: 16
    labels in 0..999 and 16 confidences in [0, 1], and both files must list the same images.
    Labels are kept as int16 here (a quarter of the memory); the dataset feature is int64.
    """
    names, labels = _read_number_csv(labels_path, pa.int32(), "class indices")
    _first_bad(labels, (labels >= 0) & (labels < NUM_CLASSES), labels_path, "expected a class index in 0..999")
    labels = labels.astype(np.int16)  # 0..999; widened to the int64 feature one batch at a time when written
    conf_names, conf = _read_number_csv(confidences_path, pa.float32(), "confidences")
    _first_bad(conf, (conf >= 0) & (conf <= 1), confidences_path, "expected a confidence in [0, 1]")

    if not names.equals(conf_names):
        order_l = pc.sort_indices(names).to_numpy()
        order_c = pc.sort_indices(conf_names).to_numpy()
        sorted_l, sorted_c = names.take(order_l), conf_names.take(order_c)
        if len(names) != len(conf_names) or not sorted_l.equals(sorted_c):
            only = sorted(set(names.to_pylist()) ^ set(conf_names.to_pylist()))
            raise MetadataError(
                f"{labels_path} and {confidences_path} list different images ({len(names)} vs {len(conf_names)} rows; "
                f"{len(only)} name(s) in only one of them, e.g. {only[:3]}). Use the two files of the same split and noise level."
            )
        conf = conf[order_c][np.argsort(order_l)]
    _check_unique(names, labels_path)
    flat_l = pa.array(labels.reshape(-1))
    flat_c = pa.array(conf.reshape(-1))
    return pa.table(
        {
            "file_name": names,
            "annotator_labels": pa.FixedSizeListArray.from_arrays(flat_l, NUM_ANNOTATORS),
            "annotator_confidences": pa.FixedSizeListArray.from_arrays(flat_c, NUM_ANNOTATORS),
        }
    )


def _check_unique(names: pa.Array, path) -> None:
    if pc.count_distinct(names).as_py() != len(names):
        counts = pc.value_counts(names)
        dup = [v["values"] for v in counts.to_pylist() if v["counts"] > 1][:3]
        raise MetadataError(f"{path}: file name(s) {dup} occur on more than one line; each image must have one row.")


def read_annotator_features(path: str | os.PathLike) -> np.ndarray:
    """``annotator_features.csv``: 16 rows of (normalized accuracy, normalized log #parameters)."""
    rows = []
    for i, line in enumerate(_lines(path), 1):
        parts = line.split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 2:
            raise MetadataError(f"{path}, line {i}: expected 2 numbers (accuracy, log #parameters), found {line!r}.")
        rows.append(values)
    if len(rows) != NUM_ANNOTATORS:
        raise MetadataError(f"{path}: expected {NUM_ANNOTATORS} lines, one per annotator, found {len(rows)}.")
    return np.asarray(rows, dtype=np.float32)
