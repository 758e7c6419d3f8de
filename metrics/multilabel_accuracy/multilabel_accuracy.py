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
"""Multi-label accuracy on ImageNet (Shankar et al. 2020; Vasudevan et al. 2022), and ImageNet-M.

This file is an `evaluate` module: `evaluate.load` copies it alone into its cache, so it imports
nothing from the rest of the repository (its small array helpers are repeated in
`metrics/real_accuracy` for the same reason).
"""

import itertools

import datasets
import numpy as np

import evaluate


# ILSVRC-2012 has 1000 classes; indices use the sorted-WNID order of TFDS `labels.txt`.
NUM_CLASSES = 1000

_DESCRIPTION = """
Multi-label accuracy (MLA) scores top-1 predictions on the 20,000 ImageNet validation images that
Shankar et al. (2020), "Evaluating Machine Accuracy on ImageNet", had experts annotate with every
class judged `correct`, `wrong` or `unclear` for the image (labels corrected in v3.0.0 by
Vasudevan et al. (2022), "When does dough become a bagel?").

Default config, the recommended class-balanced MLA (TFDS `imagenet2012_multilabel` reference code):
images marked problematic are dropped; a prediction is correct if it is in the image's `correct` or
`unclear` labels (lenient with unclear labels); accuracy is averaged within each original ImageNet
class, then over the classes. On the full validation split that is 18,692 images in all 1000 classes;
on partial data the mean is over the classes present, and `num_classes` says how many.

"imagenet_m" config: ImageNet-Major, the 68 images of Vasudevan et al. (2022) that top models get
obviously wrong. It is reported as the number of correct top-1 predictions out of 68, with no
filtering, and, as in the authors' Shift Happens task, `unclear` labels also count as correct.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): top-1 class index (0..999, sorted-WNID order) of each image.
    references (`list` of `list` of `int`): labels the experts marked correct for each image,
        the `correct_multi_labels` column of the dataset's `multilabel` config.
    unclear_multi_labels (`list` of `list` of `int`): labels the experts could not agree on
        (`unclear_multi_labels` column); a prediction among them also counts as correct.
    original_label (`list` of `int`): default config only. The original ImageNet label
        (`original_label` column); it defines the classes that accuracy is averaged over.
    is_problematic (`list` of `bool`): default config only (`is_problematic` column); these images
        are left out.

Returns:
    Default config:
    accuracy (`float`): class-balanced multi-label accuracy, the mean over classes of the per-class
        accuracy on non-problematic images, in [0, 1].
    image_accuracy (`float`): plain accuracy over all non-problematic images.
    num_images (`int`): number of non-problematic images scored.
    num_classes (`int`): number of classes averaged over (1000 on the full validation split).

    "imagenet_m" config:
    num_correct (`int`): number of images predicted correctly (the ImageNet-M score, out of 68).
    num_images (`int`): number of images scored.
    accuracy (`float`): num_correct / num_images.

Examples:

    Class 3 has two non-problematic images (one right, one wrong): accuracy 0.5; class 7 has one,
    predicted as an unclear label, which counts as right: 1.0. The problematic image is ignored.
        >>> multilabel_accuracy = evaluate.load("metrics/multilabel_accuracy")
        >>> results = multilabel_accuracy.compute(
        ...     predictions=[3, 9, 8, 3],
        ...     references=[[3], [3, 4], [7], []],
        ...     unclear_multi_labels=[[], [], [8], []],
        ...     original_label=[3, 3, 7, 3],
        ...     is_problematic=[False, False, False, True],
        ... )
        >>> print(results)
        {'accuracy': 0.75, 'image_accuracy': 0.6666666666666666, 'num_images': 3, 'num_classes': 2}

    ImageNet-M: no image is dropped; 2 of 3 are right (the third prediction is an unclear label).
        >>> imagenet_m = evaluate.load("metrics/multilabel_accuracy", "imagenet_m")
        >>> results = imagenet_m.compute(
        ...     predictions=[5, 6, 2],
        ...     references=[[5], [7], [1]],
        ...     unclear_multi_labels=[[], [], [2]],
        ... )
        >>> print(results)
        {'num_correct': 2, 'num_images': 3, 'accuracy': 0.6666666666666666}
"""

_CITATION = """
@inproceedings{shankar2020evaluating,
  title={Evaluating Machine Accuracy on {ImageNet}},
  author={Vaishaal Shankar and Rebecca Roelofs and Horia Mania and Alex Fang and Benjamin Recht and Ludwig Schmidt},
  booktitle={Proceedings of the 37th International Conference on Machine Learning (ICML)},
  year={2020},
  note={\\url{http://proceedings.mlr.press/v119/shankar20c.html}}
}
@article{vasudevan2022does,
  title={When does dough become a bagel? Analyzing the remaining mistakes on {ImageNet}},
  author={Vasudevan, Vijay and Caine, Benjamin and Gontijo-Lopes, Raphael and Fridovich-Keil, Sara and Roelofs, Rebecca},
  journal={arXiv preprint arXiv:2205.04596},
  year={2022}
}
"""

_LABEL_LISTS = datasets.Sequence(datasets.Value("int64"))
# Inputs of each config: the dataset's `multilabel` columns it needs, under evaluate's names.
_FEATURES = {
    "default": {
        "predictions": datasets.Value("int64"),
        "references": _LABEL_LISTS,
        "unclear_multi_labels": _LABEL_LISTS,
        "original_label": datasets.Value("int64"),
        "is_problematic": datasets.Value("bool"),
    },
    "imagenet_m": {
        "predictions": datasets.Value("int64"),
        "references": _LABEL_LISTS,
        "unclear_multi_labels": _LABEL_LISTS,
    },
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MultilabelAccuracy(evaluate.Metric):
    def _info(self):
        if self.config_name not in _FEATURES:
            raise ValueError(
                f"multilabel_accuracy has no config {self.config_name!r}; use 'default' "
                "(class-balanced multi-label accuracy) or 'imagenet_m' (ImageNet-M count)."
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(_FEATURES[self.config_name]),
            homepage="https://github.com/modestyachts/evaluating_machine_accuracy_on_imagenet",
            reference_urls=[
                "https://www.tensorflow.org/datasets/catalog/imagenet2012_multilabel",
                "https://arxiv.org/abs/2205.04596",
            ],
        )

    def _compute(self, predictions, references, unclear_multi_labels, original_label=None, is_problematic=None):
        if self.config_name == "imagenet_m":
            if original_label is not None or is_problematic is not None:
                raise ValueError(
                    "ImageNet-M is scored on every image, without filtering: drop original_label and "
                    "is_problematic, or load the default config for class-balanced accuracy."
                )
            correct = _is_correct(predictions, references, unclear_multi_labels)
            num_correct = int(np.count_nonzero(correct))
            return {"num_correct": num_correct, "num_images": len(correct), "accuracy": num_correct / len(correct)}
        extra_inputs = {"original_label": original_label, "is_problematic": is_problematic}
        missing = [name for name, value in extra_inputs.items() if value is None]
        if missing:
            raise ValueError(
                f"multilabel_accuracy is missing {' and '.join(missing)}: pass the columns of that name "
                "from the dataset's multilabel config."
            )
        correct = _is_correct(predictions, references, unclear_multi_labels)
        classes = _int_array(original_label, "original_label", len(correct))
        _check_class_indices(classes, "original_label")
        problematic = _bool_array(is_problematic, "is_problematic", len(correct))
        return _class_balanced(correct[~problematic], classes[~problematic])


def _is_correct(predictions, correct_labels, unclear_labels):
    """Per image: is the top-1 prediction among its correct or unclear labels?"""
    preds = _int_array(predictions, "predictions", None)
    if len(preds) == 0:
        raise ValueError("predictions is empty: there is nothing to score.")
    _check_class_indices(preds, "predictions")
    hit = np.zeros(len(preds), dtype=bool)
    for name, lists in (("references", correct_labels), ("unclear_multi_labels", unclear_labels)):
        labels, counts = _flatten(lists, name)
        if len(counts) != len(preds):
            raise ValueError(f"Got {len(preds)} predictions but {len(counts)} {name}; pass one list per image.")
        _check_class_indices(labels, name, counts)
        image_of_label = np.repeat(np.arange(len(preds)), counts)
        hit[image_of_label[labels == preds[image_of_label]]] = True
    return hit


def _class_balanced(correct, classes):
    """Mean over the classes present of each class's accuracy, plus the plain image-level accuracy."""
    if len(correct) == 0:
        raise ValueError("Every image is problematic: there is nothing to score.")
    images_per_class = np.bincount(classes, minlength=NUM_CLASSES)
    correct_per_class = np.bincount(classes, weights=correct, minlength=NUM_CLASSES)
    present = images_per_class > 0
    return {
        "accuracy": float(np.mean(correct_per_class[present] / images_per_class[present])),
        "image_accuracy": float(np.count_nonzero(correct) / len(correct)),
        "num_images": len(correct),
        "num_classes": int(np.count_nonzero(present)),
    }


def _flatten(lists, name):
    """Ragged lists of ints -> (all values, length of each list), without a per-image Python loop."""
    try:
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        values = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
    except TypeError:
        raise ValueError(f"{name} must be a list of lists of integer class indices (no None).") from None
    return values, counts


def _int_array(values, name, expected_length):
    """A flat sequence of ints -> int64 array, checked against the number of predictions."""
    if expected_length is not None and len(values) != expected_length:
        raise ValueError(f"Got {expected_length} predictions but {len(values)} {name}; pass one value per image.")
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except TypeError:
        raise ValueError(f"{name} must be a list of integers (no None or lists).") from None


def _bool_array(values, name, expected_length):
    """A flat sequence of bools -> bool array, checked against the number of predictions."""
    if len(values) != expected_length:
        raise ValueError(f"Got {expected_length} predictions but {len(values)} {name}; pass one value per image.")
    array = np.asarray(values)
    if array.dtype != bool:
        raise ValueError(
            f"{name} must be a list of booleans (True for problematic images), got dtype {array.dtype}."
        )
    return array


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
