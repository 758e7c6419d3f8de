"""The ReaL and multilabel `evaluate` metrics: exact answers on hand-built cases, every refusal, and
the published figures on the real label files when they are present."""

from __future__ import annotations

import json
from pathlib import Path

import evaluate
import numpy as np
import pytest
from conftest import refdata

REPO = Path(__file__).resolve().parents[1]
METRICS = REPO / "metrics"
# The real public metadata, read only when present (never copied into the repo).


def load(name: str, config: str | None = None) -> evaluate.EvaluationModule:
    # In memory: when _compute refuses input, evaluate keeps its on-disk cache file locked, and the
    # next compute on the same object would wait a second for that lock.
    return evaluate.load(str(METRICS / name), config, keep_in_memory=True)


@pytest.fixture(scope="module")
def real():
    return load("real_accuracy")


@pytest.fixture(scope="module")
def real_top_k():
    return load("real_accuracy", "top_k")


@pytest.fixture(scope="module")
def multilabel():
    return load("multilabel_accuracy")


@pytest.fixture(scope="module")
def imagenet_m():
    return load("multilabel_accuracy", "imagenet_m")


# ---------------------------------------------------------------- ReaL, top-1


def test_real_top1_excludes_empty_lists(real):
    # Image 1 has no ReaL label: it counts in neither numerator nor denominator.
    # Image 2's list is unsorted and holds the prediction second; image 3 is wrong.
    results = real.compute(predictions=[1, 2, 3, 4], references=[[1], [], [5, 3], [7]])
    assert results == {"accuracy": 2 / 3, "num_correct": 2, "num_images": 3}


def test_real_top1_boundary_classes(real):
    results = real.compute(predictions=[0, 999, 999], references=[[0], [999, 0], [998]])
    assert results == {"accuracy": 2 / 3, "num_correct": 2, "num_images": 3}


def test_real_loads_by_relative_path_from_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)
    results = evaluate.load("metrics/real_accuracy").compute(predictions=[5], references=[[5, 6]])
    assert results == {"accuracy": 1.0, "num_correct": 1, "num_images": 1}


# ---------------------------------------------------------------- ReaL, top-k


def test_real_top_k_uses_only_first_k(real_top_k):
    ranked = [[10, 11, 12, 13, 14, 15], [20, 21, 22, 23, 24, 25], [30, 31, 32, 33, 34, 35], [1, 2, 3, 4, 5, 6]]
    references = [[14], [25], [99, 30], []]  # rank 5, rank 6, rank 1, not counted
    assert real_top_k.compute(predictions=ranked, references=references) == {
        "accuracy": 2 / 3,
        "num_correct": 2,
        "num_images": 3,
    }  # k defaults to 5
    assert real_top_k.compute(predictions=ranked, references=references, k=6)["num_correct"] == 3
    assert real_top_k.compute(predictions=ranked, references=references, k=4)["num_correct"] == 1
    assert real_top_k.compute(predictions=ranked, references=references, k=1)["num_correct"] == 1


def test_real_top_k_accepts_numpy_and_ragged_rows(real_top_k):
    ranked = np.array([[7, 1, 2], [3, 4, 8]])
    assert real_top_k.compute(predictions=ranked, references=[[8], [8]], k=3)["num_correct"] == 1
    ragged = [[7, 1, 2, 9], [3, 4, 8]]  # only the first k of each row matter
    assert real_top_k.compute(predictions=ragged, references=[[9], [8]], k=3)["num_correct"] == 1


def test_real_top_k_with_k_1_matches_top_1(real, real_top_k):
    rng = np.random.default_rng(0)
    ranked = np.argsort(rng.random((200, 1000)), axis=1)[:, :5]
    references = [list(rng.choice(1000, size=rng.integers(0, 4), replace=False)) for _ in range(200)]
    top1 = real.compute(predictions=ranked[:, 0], references=references)
    assert real_top_k.compute(predictions=ranked, references=references, k=1) == top1


# ---------------------------------------------------------------- ReaL refusals


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ([1, 2], [[1]], r"Mismatch in the number of predictions \(2\) and references \(1\)"),
        ([1000], [[1]], r"predictions\[0\] holds class index 1000, outside 0\.\.999"),
        ([1, -1], [[1], [1]], r"predictions\[1\] holds class index -1"),
        ([1, 2], [[1], [2, 1000]], r"references\[1\] holds class index 1000"),
        ([1, 2], [[], []], "nothing to score"),
        ([None], [[1]], "predictions must be a list of integer class indices"),
        ([1], [None], "references must be a list of lists of integer class indices"),
    ],
)
def test_real_refuses(real, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        real.compute(predictions=predictions, references=references)


def test_real_default_config_refuses_k(real):
    with pytest.raises(ValueError, match="k only applies to the 'top_k' config"):
        real.compute(predictions=[1], references=[[1]], k=1)


@pytest.mark.parametrize(
    ("ranked", "k", "message"),
    [
        ([[1, 2, 3]], 0, "k must be a positive integer, got 0"),
        ([[1, 2, 3]], -2, "k must be a positive integer"),
        ([[1, 2, 3]], True, "k must be a positive integer"),
        ([[1, 2, 3]], 2.0, "k must be a positive integer"),
        ([[1, 2, 3]], 4, r"k=4 but predictions\[0\] ranks only 3 classes"),
        ([[1, 2, 3, 4, 5, 6], [1, 2, 3]], 5, r"k=5 but predictions\[1\] ranks only 3 classes"),
        ([[1, 2, 3, 4, 5]], None, None),  # the default k=5 fits exactly
        ([[1, 2, 1000]], 2, r"predictions\[0\] holds class index 1000"),
        ([[4, 5, 6], [0, 0, 0]], 3, r"predictions\[1\] repeats a class"),
    ],
)
def test_real_top_k_refuses(real_top_k, ranked, k, message):
    references = [[1]] * len(ranked)
    if message is None:
        assert real_top_k.compute(predictions=ranked, references=references, k=k)["num_correct"] == 1
        return
    with pytest.raises(ValueError, match=message):
        real_top_k.compute(predictions=ranked, references=references, k=k)


def test_real_top_k_refuses_scores(real_top_k):
    # Probabilities instead of ranked indices: evaluate casts them to int (all 0), which repeats class 0.
    scores = np.full((2, 10), 0.1)
    with pytest.raises(ValueError, match="not the scores"):
        real_top_k.compute(predictions=scores, references=[[1], [2]])


def test_real_unknown_config():
    with pytest.raises(ValueError, match="real_accuracy has no config 'top5'"):
        load("real_accuracy", "top5")


# ---------------------------------------------------------------- multilabel, class-balanced


def test_multilabel_class_balanced_and_image_accuracy(multilabel):
    # Class 0: three images, all right (one via an unclear label). Class 1: one image, wrong.
    # Class-balanced accuracy (1 + 0) / 2 differs from image accuracy 3 / 4.
    results = multilabel.compute(
        predictions=[0, 5, 9, 3],
        references=[[0], [5, 0], [0], [1]],
        unclear_multi_labels=[[], [], [9], [2]],
        original_label=[0, 0, 0, 1],
        is_problematic=[False, False, False, False],
    )
    assert results == {"accuracy": 0.5, "image_accuracy": 0.75, "num_images": 4, "num_classes": 2}


def test_multilabel_drops_problematic_images(multilabel):
    # The problematic images would be right (image 1) and wrong (image 3); both are ignored, and class 7,
    # whose only image is problematic, is not averaged over.
    results = multilabel.compute(
        predictions=[4, 4, 2, 8],
        references=[[4], [4], [2], [3]],
        unclear_multi_labels=[[], [], [], []],
        original_label=[4, 4, 2, 7],
        is_problematic=[False, True, False, True],
    )
    assert results == {"accuracy": 1.0, "image_accuracy": 1.0, "num_images": 2, "num_classes": 2}


def test_multilabel_unclear_labels_count_as_correct(multilabel):
    common = {"original_label": [10, 11], "is_problematic": [False, False]}
    lenient = multilabel.compute(
        predictions=[20, 21], references=[[10], [11]], unclear_multi_labels=[[20], [22]], **common
    )
    assert lenient == {"accuracy": 0.5, "image_accuracy": 0.5, "num_images": 2, "num_classes": 2}


def test_multilabel_single_image_classes_and_partial_coverage(multilabel):
    # Three classes out of 1000, one with a single image: the mean runs over the 3 classes present.
    results = multilabel.compute(
        predictions=[1, 1, 2, 999, 5],
        references=[[1], [1], [3], [999], [5]],
        unclear_multi_labels=[[], [], [], [], []],
        original_label=[1, 1, 2, 2, 999],
        is_problematic=[False, False, False, False, False],
    )
    # class 1: 2/2, class 2: 1/2 (images 2 and 3), class 999: 1/1 (prediction 5 is in its list)
    assert results == {"accuracy": 2.5 / 3, "image_accuracy": 4 / 5, "num_images": 5, "num_classes": 3}


def test_multilabel_images_with_no_labels_are_wrong(multilabel):
    results = multilabel.compute(
        predictions=[3, 3],
        references=[[], [3]],
        unclear_multi_labels=[[], []],
        original_label=[3, 3],
        is_problematic=[False, False],
    )
    assert results == {"accuracy": 0.5, "image_accuracy": 0.5, "num_images": 2, "num_classes": 1}


# ---------------------------------------------------------------- ImageNet-M


def test_imagenet_m_counts_without_filtering(imagenet_m):
    results = imagenet_m.compute(
        predictions=[5, 6, 2, 9],
        references=[[5], [7], [1], []],
        unclear_multi_labels=[[], [], [2], [9]],
    )
    assert results == {"num_correct": 3, "num_images": 4, "accuracy": 0.75}


def test_imagenet_m_refuses_filtering_columns(imagenet_m):
    with pytest.raises(ValueError, match="ImageNet-M is scored on every image"):
        imagenet_m.compute(predictions=[1], references=[[1]], unclear_multi_labels=[[]], is_problematic=[True])


# ---------------------------------------------------------------- multilabel refusals

GOOD = {
    "predictions": [1, 2],
    "references": [[1], [2]],
    "unclear_multi_labels": [[], []],
    "original_label": [1, 2],
    "is_problematic": [False, False],
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"predictions": [1, 2, 3]}, r"Mismatch in the number of predictions \(3\)"),
        ({"original_label": [1]}, r"Mismatch in the number of predictions \(2\) and original_label \(1\)"),
        ({"unclear_multi_labels": [[]]}, "Mismatch in the number"),
        ({"predictions": [1, 1000]}, r"predictions\[1\] holds class index 1000, outside 0\.\.999"),
        ({"references": [[1], [-3]]}, r"references\[1\] holds class index -3"),
        ({"unclear_multi_labels": [[], [4, 1001]]}, r"unclear_multi_labels\[1\] holds class index 1001"),
        ({"original_label": [1, 1000]}, r"original_label\[1\] holds class index 1000"),
        ({"is_problematic": [True, True]}, "Every image is problematic"),
        ({"is_problematic": [False, None]}, "is_problematic must be a list of booleans"),
        ({"original_label": [1, None]}, "original_label must be a list of integers"),
    ],
)
def test_multilabel_refuses(multilabel, changes, message):
    with pytest.raises(ValueError, match=message):
        multilabel.compute(**{**GOOD, **changes})


@pytest.mark.parametrize("missing", [["original_label"], ["is_problematic"], ["original_label", "is_problematic"]])
def test_multilabel_missing_arguments_are_named(multilabel, missing):
    kwargs = {key: value for key, value in GOOD.items() if key not in missing}
    with pytest.raises(ValueError, match="inputs are missing") as error:
        multilabel.compute(**kwargs)
    assert all(name in str(error.value).split("All required")[0] for name in missing)


def test_imagenet_m_missing_unclear_is_named(imagenet_m):
    with pytest.raises(ValueError, match=r"missing: \['unclear_multi_labels'\]"):
        imagenet_m.compute(predictions=[1], references=[[1]])


def test_multilabel_compute_direct_call_names_missing_columns(multilabel):
    # Bypassing evaluate's own check (e.g. a column passed as None) still names what is missing.
    with pytest.raises(ValueError, match="missing original_label and is_problematic"):
        multilabel._compute(predictions=[1], references=[[1]], unclear_multi_labels=[[]])


def test_multilabel_unknown_config():
    with pytest.raises(ValueError, match="multilabel_accuracy has no config 'imagenet-m'"):
        load("multilabel_accuracy", "imagenet-m")


# ---------------------------------------------------------------- real label files (optional)


def test_original_labels_score_published_real_figure(real):
    """The original validation labels score 42,164 / 46,837 under ReaL (FORMATS.md, checked)."""
    wnids = refdata("imagenet2012_labels.txt").read_text().split()
    class_index = {wnid: i for i, wnid in enumerate(wnids)}
    originals = [class_index[w] for w in refdata("imagenet2012_validation_labels.txt").read_text().split()]
    real_labels = json.loads(refdata("real.json").read_text())
    assert len(originals) == len(real_labels) == 50_000

    results = real.compute(predictions=originals, references=real_labels)

    assert results["num_correct"] == 42_164
    assert results["num_images"] == 46_837
    assert results["accuracy"] == pytest.approx(0.9002284518649786, abs=1e-15)


def _multilabel_columns(sample: dict, class_index: dict[str, int], original_wnids: list[str]) -> dict[str, list]:
    """Columns of our `multilabel` config from the source JSON layout (validation images only)."""
    names = sorted(name for name in sample["initial_annots"] if name.startswith("ILSVRC2012_val_"))
    annots = [sample["initial_annots"][name] for name in names]
    return {
        "file_name": names,
        "correct_multi_labels": [[class_index[w] for w in a.get("correct", [])] for a in annots],
        "unclear_multi_labels": [[class_index[w] for w in a.get("unclear", [])] for a in annots],
        # ILSVRC2012_val_00000005.JPEG is line 5 of the validation labels file.
        "original_label": [class_index[original_wnids[int(name[15:23]) - 1]] for name in names],
        "is_problematic": [name in sample["problematic_images"] for name in names],
    }


def test_multilabel_on_real_sample(multilabel, imagenet_m):
    """The 38 validation entries of the sample: 16 problematic; the 22 others each in their own class."""
    wnids = refdata("imagenet2012_labels.txt").read_text().split()
    class_index = {wnid: i for i, wnid in enumerate(wnids)}
    original_wnids = refdata("imagenet2012_validation_labels.txt").read_text().split()
    sample = json.loads(refdata("human_accuracy_sample.json").read_text())
    columns = _multilabel_columns(sample, class_index, original_wnids)
    assert len(columns["file_name"]) == 38 and sum(columns["is_problematic"]) == 16

    # Predict the original label (right for every non-problematic image of the sample), except: the
    # images with unclear labels get their smallest unclear label (right: lenient), two get class 0 (wrong).
    predictions = []
    for name, label, unclear in zip(columns["file_name"], columns["original_label"], columns["unclear_multi_labels"]):
        if name in ("ILSVRC2012_val_00001257.JPEG", "ILSVRC2012_val_00007726.JPEG"):
            predictions.append(0)
        elif unclear and name not in sample["problematic_images"]:
            predictions.append(min(unclear))
        else:
            predictions.append(label)
    assert predictions.count(0) == 2 and 0 not in columns["original_label"]

    results = multilabel.compute(
        predictions=predictions,
        references=columns["correct_multi_labels"],
        unclear_multi_labels=columns["unclear_multi_labels"],
        original_label=columns["original_label"],
        is_problematic=columns["is_problematic"],
    )
    assert results == {"accuracy": 20 / 22, "image_accuracy": 20 / 22, "num_images": 22, "num_classes": 22}
    assert results["accuracy"] == _tfds_reference_mla(predictions, columns)

    # The sample's made-up ImageNet-M list: 3 images, each predicted as one of its unclear labels.
    rows = [columns["file_name"].index(name) for name in sample["imagenet_m"]]
    m_results = imagenet_m.compute(
        predictions=[predictions[i] for i in rows],
        references=[columns["correct_multi_labels"][i] for i in rows],
        unclear_multi_labels=[columns["unclear_multi_labels"][i] for i in rows],
    )
    assert m_results == {"num_correct": 3, "num_images": 3, "accuracy": 1.0}


def _tfds_reference_mla(predictions: list[int], columns: dict[str, list]) -> float:
    """The per-image loop of the TFDS imagenet2012_multilabel catalog, over the classes present."""
    correct_per_class: dict[int, int] = {}
    images_per_class: dict[int, int] = {}
    for i, pred in enumerate(predictions):
        if columns["is_problematic"][i]:
            continue
        cls = columns["original_label"][i]
        images_per_class[cls] = images_per_class.get(cls, 0) + 1
        correct_per_class.setdefault(cls, 0)
        if pred in columns["correct_multi_labels"][i] or pred in columns["unclear_multi_labels"][i]:
            correct_per_class[cls] += 1
    return sum(correct_per_class[c] / images_per_class[c] for c in images_per_class) / len(images_per_class)
