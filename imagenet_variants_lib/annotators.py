"""The 16 ImageNet-PI model annotators: names in column order, and their features."""

from __future__ import annotations

import os

from . import parsers, sources

# Column order of annotator_labels / annotator_confidences and row order of annotator_features.csv:
# ImageNet-PI README (../shared/spec/imagenet_pi_readme.md) and FORMATS.md.
ANNOTATORS = (
    "ResNet50V2", "ResNet101V2", "ResNet152V2", "DenseNet121", "DenseNet169", "DenseNet201",
    "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large",
    "MobileNetV3Small", "NASNetMobile", "VGG16", "VGG19", "Xception",
)
PI_LEVELS = {"pi_low_noise": "low_noise", "pi_high_noise": "high_noise"}


def annotator_info(config: str, data_dir: str | os.PathLike | None = None, download: sources.Downloader | None = None) -> list[dict]:
    """The 16 annotators of an ImageNet-PI config, in column order.

    Each entry: ``{"index", "name", "normalized_accuracy", "normalized_log_num_parameters"}``, the last
    two from ``imagenet_pi/<level>/annotator_features.csv`` in ``data_dir`` (or downloaded with
    ``download(url) -> path`` and checked against the pinned sha256).
    """
    if config not in PI_LEVELS:
        raise ValueError(f"annotator_info: config must be one of {sorted(PI_LEVELS)}, got {config!r}.")
    key = sources.pi_key(PI_LEVELS[config], "annotator_features")
    path = sources.locate(data_dir, [key], downloadable=[key], download=download, config_name=f"Config {config!r}")[key]
    features = parsers.read_annotator_features(path)
    return [
        {"index": i, "name": name, "normalized_accuracy": float(acc), "normalized_log_num_parameters": float(logp)}
        for i, (name, (acc, logp)) in enumerate(zip(ANNOTATORS, features))
    ]
