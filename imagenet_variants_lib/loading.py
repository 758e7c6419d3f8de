"""``load_variant``: the same call on every supported datasets version (3.6 runs scripts, 4+ does not)."""

from __future__ import annotations

import os

import datasets

from .errors import ImagenetVariantsError

# Mirrors the config table of imagenet_variants.py (a test keeps the two equal); listed here so
# that the CLI can show choices without importing datasets' builder machinery.
CONFIG_NAMES = ("imagenet2012", "real", "multilabel", "pi_low_noise", "pi_high_noise")


def builder(name: str = "imagenet2012", data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None, **config_kwargs):
    """An ``ImagenetVariants`` builder for config ``name`` reading the tarballs in ``data_dir``."""
    from imagenet_variants import ImagenetVariants  # the root module imports this package

    if name not in CONFIG_NAMES:
        raise ValueError(f"Unknown config {name!r}; choose one of {', '.join(CONFIG_NAMES)}.")
    return ImagenetVariants(
        config_name=name,
        data_dir=None if data_dir is None else os.fspath(data_dir),
        cache_dir=None if cache_dir is None else os.fspath(cache_dir),
        **config_kwargs,
    )


def prepare(builder_: datasets.DatasetBuilder, num_proc: int | None = None) -> None:
    """``download_and_prepare``, re-raising our own error (file, line, fix) instead of datasets' wrapper."""
    try:
        builder_.download_and_prepare(num_proc=num_proc)
    except datasets.exceptions.DatasetGenerationError as exc:
        cause = exc.__cause__
        if isinstance(cause, ImagenetVariantsError):
            raise cause from None
        raise


def load_variant(
    name: str = "imagenet2012",
    data_dir: str | os.PathLike | None = None,
    split: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    **config_kwargs,
) -> datasets.Dataset | datasets.DatasetDict:
    """Prepare config ``name`` from the tarballs in ``data_dir`` (once; then cached) and load it.

    Takes the arguments of ``datasets.load_dataset`` and works on datasets 3.6 and 5.x alike:
    ``load_variant("real", data_dir="/data/imagenet", split="validation")``. Extra keyword
    arguments set config fields (e.g. ``skip_unreadable_images=True``).
    """
    b = builder(name, data_dir=data_dir, cache_dir=cache_dir, **config_kwargs)
    prepare(b, num_proc=num_proc)
    return b.as_dataset(split=split)
