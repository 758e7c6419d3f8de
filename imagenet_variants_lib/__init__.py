"""Library behind the ``imagenet_variants`` builder: sources, parsers, archive walkers, CLI."""

from .annotators import ANNOTATORS, annotator_info
from .errors import ArchiveError, ChecksumError, ImageError, ImagenetVariantsError, MetadataError, MissingFilesError
from .loading import CONFIG_NAMES, builder, load_variant

__all__ = [
    "ANNOTATORS",
    "CONFIG_NAMES",
    "ArchiveError",
    "ChecksumError",
    "ImageError",
    "ImagenetVariantsError",
    "MetadataError",
    "MissingFilesError",
    "annotator_info",
    "builder",
    "load_variant",
]
