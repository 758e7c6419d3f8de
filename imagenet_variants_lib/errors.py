"""Exceptions raised for bad user input. Each message names the file (and line or member) and the fix."""


class ImagenetVariantsError(Exception):
    """Base class: a problem with the user's files or arguments, reported without a traceback by the CLI."""


class MissingFilesError(ImagenetVariantsError, FileNotFoundError):
    """One or more input files are absent from ``data_dir``."""


class ChecksumError(ImagenetVariantsError):
    """A file's sha256 or md5 differs from the pinned value."""


class MetadataError(ImagenetVariantsError, ValueError):
    """A metadata file (labels, JSON, CSV) is malformed; the message names file and line."""


class ArchiveError(ImagenetVariantsError):
    """A tarball is corrupt, truncated, compressed or laid out unexpectedly; the message names tar and member."""


class ImageError(ImagenetVariantsError):
    """An image inside a tarball cannot be read."""


class SubmissionError(ImagenetVariantsError, ValueError):
    """Predictions that cannot make a valid test-server file; the message says which image and why."""
