# Copyright 2024 The imagenet-variants authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""ImageNet-ReaL accuracy: top-1 and top-k accuracy against the reassessed labels of Beyer et al. (2020).

This file is an `evaluate` module: `evaluate.load` copies it alone into its cache, so it imports
nothing from the rest of the repository (its two small array helpers are repeated in
`metrics/multilabel_accuracy` for the same reason).
"""

import itertools

import datasets
import numpy as np

import evaluate


# ILSVRC-2012 has 1000 classes; ReaL indices use the sorted-WNID order of TFDS `labels.txt`.
NUM_CLASSES = 1000
# The "top_k" config scores top-5 unless told otherwise: the ILSVRC convention.
DEFAULT_TOP_K = 5

_DESCRIPTION = """
ReaL accuracy scores ImageNet validation predictions against the "Reassessed Labels" (ReaL) of
Beyer et al. (2020), "Are we done with ImageNet?". Each validation image has a list of every class
that human raters judged correct for it; the list may hold several classes, or none at all (3,163 of
the 50,000 images, for which the raters settled on no class).

A prediction is correct if its class is in the image's ReaL list. Images whose list is empty are
left out of both the numerator and the denominator, so on the full validation set the denominator is
46,837 images. The "top_k" config counts an image as correct if any of its first k ranked predictions
is in the list (ReaL top-5 by default).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`; `list` of `list` of `int` for the "top_k" config): for the default
        config, the top-1 class index (0..999, sorted-WNID order) of each image; for "top_k", each
        image's class indices ranked from most to least likely (at least k of them, all distinct).
    references (`list` of `list` of `int`): the ReaL labels of each image, exactly the `real_label`
        column of the dataset's `real` config (lists of class indices, possibly empty).
    k (`int`, optional): "top_k" config only. How many leading ranked predictions are checked against
        the ReaL list. Defaults to 5; must be between 1 and the number of predictions given per image.

Returns:
    accuracy (`float`): fraction of counted images whose prediction is in their ReaL list, in [0, 1].
    num_correct (`int`): number of counted images predicted correctly.
    num_images (`int`): number of counted images, i.e. images with a non-empty ReaL list.

Examples:

    Top-1. The third image has no ReaL label and is not counted; 2 of the other 3 are right.
        >>> real_accuracy = evaluate.load("metrics/real_accuracy")
        >>> results = real_accuracy.compute(
        ...     predictions=[970, 230, 5, 808],
        ...     references=[[970, 795], [230, 231], [], [809]],
        ... )
        >>> print(results)
        {'accuracy': 0.6666666666666666, 'num_correct': 2, 'num_images': 3}

    Top-k. The second image's label 231 is ranked third: correct at k=3, wrong at k=2.
        >>> real_top_k = evaluate.load("metrics/real_accuracy", "top_k")
        >>> ranked = [[970, 1, 2], [7, 8, 231], [4, 5, 6]]
        >>> print(real_top_k.compute(predictions=ranked, references=[[795, 970], [231], []], k=3))
        {'accuracy': 1.0, 'num_correct': 2, 'num_images': 2}
        >>> print(real_top_k.compute(predictions=ranked, references=[[795, 970], [231], []], k=2))
        {'accuracy': 0.5, 'num_correct': 1, 'num_images': 2}
"""

_CITATION = """
@article{beyer2020imagenet,
  title={Are we done with ImageNet?},
  author={Lucas Beyer and Olivier J. Henaff and Alexander Kolesnikov and Xiaohua Zhai and Aaron van den Oord},
  journal={arXiv preprint arXiv:2006.07159},
  year={2020}
}
"""

# One prediction per image (default) or a ranked list per image (top_k).
_PREDICTION_FEATURES = {
    "default": datasets.Value("int64"),
    "top_k": datasets.Sequence(datasets.Value("int64")),
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RealAccuracy(evaluate.Metric):
    def _info(self):
        if self.config_name not in _PREDICTION_FEATURES:
            raise ValueError(
                f"real_accuracy has no config {self.config_name!r}; use 'default' (one top-1 class per "
                "image) or 'top_k' (a ranked list per image, scored with compute(..., k=5))."
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": _PREDICTION_FEATURES[self.config_name],
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
            homepage="https://github.com/google-research/reassessed-imagenet",
            reference_urls=[
                "https://arxiv.org/abs/2006.07159",
                "https://github.com/huggingface/pytorch-image-models/blob/main/timm/data/real_labels.py",
            ],
        )

    def _compute(self, predictions, references, k=None):
        labels, label_counts = _flatten(references, "references")
        if len(predictions) != len(label_counts):
            raise ValueError(
                f"Got {len(predictions)} predictions but {len(label_counts)} references; "
                "pass one ReaL label list per predicted image."
            )
        if self.config_name == "top_k":
            ranked = _ranked_predictions(predictions, DEFAULT_TOP_K if k is None else k)
        elif k is not None:
            raise ValueError(
                "k only applies to the 'top_k' config; load it with "
                "evaluate.load('metrics/real_accuracy', 'top_k')."
            )
        else:
            ranked = _int_array(predictions, "predictions").reshape(-1, 1)
            _check_class_indices(ranked.ravel(), "predictions")
        _check_class_indices(labels, "references", label_counts)

        # One row per (image, ReaL label) pair: is that label among the image's top-k?
        image_of_label = np.repeat(np.arange(len(label_counts)), label_counts)
        label_hit = (ranked[image_of_label] == labels[:, None]).any(axis=1)
        image_correct = np.bincount(image_of_label[label_hit], minlength=len(label_counts)) > 0

        num_images = int(np.count_nonzero(label_counts))
        if num_images == 0:
            raise ValueError(
                f"None of the {len(label_counts)} images has a ReaL label (all reference lists are empty), "
                "so there is nothing to score."
            )
        num_correct = int(np.count_nonzero(image_correct))
        return {"accuracy": num_correct / num_images, "num_correct": num_correct, "num_images": num_images}


def _ranked_predictions(predictions, k):
    """Checks k and returns the first k ranked predictions of each image as an (n, k) int64 array."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    values, counts = _flatten(predictions, "predictions")
    _check_class_indices(values, "predictions", counts)
    if len(counts) and counts.min() < k:
        image = int(np.argmin(counts))
        raise ValueError(
            f"k={k} but predictions[{image}] ranks only {counts[image]} classes; "
            f"give at least {k} ranked predictions per image or lower k."
        )
    starts = np.cumsum(counts) - counts
    ranked = values[starts[:, None] + np.arange(k)]
    # Ranked classes are distinct; repeats usually mean scores were passed (evaluate casts them to int).
    ordered = np.sort(ranked, axis=1)
    repeats = np.nonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))[0]
    if len(repeats):
        image = int(repeats[0])
        raise ValueError(
            f"predictions[{image}] repeats a class among its first {k} entries ({ranked[image].tolist()}); "
            "pass class indices ranked by score (e.g. scores.argsort(axis=1)[:, ::-1]), not the scores."
        )
    return ranked


def _flatten(lists, name):
    """Ragged lists of ints -> (all values, length of each list), without a per-image Python loop."""
    try:
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        values = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
    except TypeError:
        raise ValueError(f"{name} must be a list of lists of integer class indices (no None).") from None
    return values, counts


def _int_array(values, name):
    """A flat sequence of ints -> int64 array."""
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except TypeError:
        raise ValueError(f"{name} must be a list of integer class indices (no None or lists).") from None


def _check_class_indices(values, name, counts=None):
    """Raises ValueError naming the first image with a class index outside 0..NUM_CLASSES-1.

    `values` holds one index per image, or with `counts` the concatenated lists of all images.
    """
    bad = np.nonzero((values < 0) | (values >= NUM_CLASSES))[0]
    if len(bad):
        image = int(bad[0]) if counts is None else int(np.searchsorted(np.cumsum(counts), bad[0], side="right"))
        raise ValueError(
            f"{name}[{image}] holds class index {values[bad[0]]}, outside 0..{NUM_CLASSES - 1} "
            "(ImageNet-1k class indices in sorted-WNID order)."
        )
