"""Library behind the ``imagenet_variants`` builder: sources, parsers, archive walkers, CLI."""

from .annotators import ANNOTATORS, annotator_info
from .class_names import class_names, id2label, label2id
from .errors import (
    ArchiveError,
    ChecksumError,
    ImageError,
    ImagenetVariantsError,
    MetadataError,
    MissingFilesError,
    SubmissionError,
)
from .loading import CONFIG_NAMES, builder, load_variant
from .submission import load_predictions, write_submission

__all__ = [
    "ANNOTATORS",
    "CONFIG_NAMES",
    "ArchiveError",
    "ChecksumError",
    "ImageError",
    "ImagenetVariantsError",
    "MetadataError",
    "MissingFilesError",
    "SubmissionError",
    "annotator_info",
    "builder",
    "class_names",
    "id2label",
    "label2id",
    "load_predictions",
    "load_variant",
    "write_submission",
]
