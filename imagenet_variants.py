"""ImageNet (ILSVRC-2012) and four relabelings of it, prepared from the original tarballs.

Configs: ``imagenet2012``, ``real`` (ImageNet-ReaL), ``multilabel`` (Shankar et al. + ImageNet-M),
``pi_low_noise`` and ``pi_high_noise`` (ImageNet-PI). Works as a loading script on datasets 3.6
(``load_dataset(this_file, config, data_dir=..., trust_remote_code=True)``) and as a builder class
on every version (``ImagenetVariants(config_name=..., data_dir=...).download_and_prepare()``);
``imagenet_variants_lib.load_variant`` wraps both.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable, Mapping

import datasets

from imagenet_variants_lib import annotations, join, parallel, parsers, sources
from imagenet_variants_lib.annotators import ANNOTATORS
from imagenet_variants_lib.join import LABEL_FROM_TAR, LABEL_FROM_VALIDATION_FILE, NO_LABEL, SplitSpec

_HOMEPAGE = "https://image-net.org/"
# Citations: the TFDS catalog pages and the ImageNet-PI README (../shared/spec/).
_CITATION_IMAGENET = """@article{ILSVRC15,
  author = {Olga Russakovsky and Jia Deng and Hao Su and Jonathan Krause and Sanjeev Satheesh and Sean Ma and Zhiheng Huang and Andrej Karpathy and Aditya Khosla and Michael Bernstein and Alexander C. Berg and Li Fei-Fei},
  title = {{ImageNet Large Scale Visual Recognition Challenge}},
  journal = {International Journal of Computer Vision (IJCV)},
  year = {2015}, volume = {115}, number = {3}, pages = {211-252}
}"""
_CITATION_REAL = """@article{beyer2020imagenet,
  title={Are we done with ImageNet?},
  author={Lucas Beyer and Olivier J. Henaff and Alexander Kolesnikov and Xiaohua Zhai and Aaron van den Oord},
  journal={arXiv preprint arXiv:2006.07159}, year={2020}
}"""
_CITATION_MULTILABEL = """@article{shankar2019evaluating,
  title={Evaluating Machine Accuracy on ImageNet},
  author={Vaishaal Shankar* and Rebecca Roelofs* and Horia Mania and Alex Fang and Benjamin Recht and Ludwig Schmidt},
  journal={ICML}, year={2020}
}
@article{vasudevan2022does,
  title={When does dough become a bagel? Analyzing the remaining mistakes on ImageNet},
  author={Vasudevan, Vijay and Caine, Benjamin and Gontijo-Lopes, Raphael and Fridovich-Keil, Sara and Roelofs, Rebecca},
  journal={arXiv preprint arXiv:2205.04596}, year={2022}
}"""
_CITATION_PI = """@article{tram2023privileged,
  author = {Guillermo Ortiz-Jimenez and Mark Collier and Anant Nawalgaria and Alexander D'Amour and Jesse Berent and Rodolphe Jenatton and Effrosyni Kokiopoulou},
  title = {When does Privileged Information explain away label noise?},
  journal = {arXiv}, year = {2023}
}"""

Columns = Callable[[datasets.ClassLabel], Mapping[str, object]]  # feature name -> datasets feature


def _imagenet_columns(label: datasets.ClassLabel) -> dict:
    return {"label": label}


def _real_columns(label: datasets.ClassLabel) -> dict:
    return {"original_label": label, "real_label": datasets.Sequence(label)}


def _multilabel_columns(label: datasets.ClassLabel) -> dict:
    return {
        "original_label": label,
        "correct_multi_labels": datasets.Sequence(label),
        "wrong_multi_labels": datasets.Sequence(label),
        "unclear_multi_labels": datasets.Sequence(label),
        "is_problematic": datasets.Value("bool"),
    }


def _pi_columns(label: datasets.ClassLabel) -> dict:
    n = parsers.NUM_ANNOTATORS
    return {
        "clean_label": label,
        "annotator_labels": datasets.Sequence(datasets.Value("int64"), length=n),
        "annotator_confidences": datasets.Sequence(datasets.Value("float32"), length=n),
    }


@dataclasses.dataclass
class ImagenetVariantsConfig(datasets.BuilderConfig):
    """One variant: its splits (tarball + annotations each) and its feature columns."""

    splits: Mapping[str, SplitSpec] = dataclasses.field(default_factory=dict)
    columns: Columns = _imagenet_columns
    optional_splits: bool = False  # True: a split for each tarball present in data_dir
    citation: str = _CITATION_IMAGENET
    skip_unreadable_images: bool = False  # opt-in: leave out images PIL cannot open (counted in the log)


def _pi_config(level: str, beta: float, agreement: str) -> ImagenetVariantsConfig:
    def split(name: str, archive: str, label_from: str) -> SplitSpec:
        keys = (sources.pi_key(level, "labels", name), sources.pi_key(level, "confidences", name))
        return SplitSpec(archive, "clean_label", label_from, functools.partial(annotations.pi, level, name), keys)

    return ImagenetVariantsConfig(
        name=f"pi_{level}",
        description=(
            f"ImageNet-PI {level.replace('_', ' ')} (annotator temperature beta={beta}; {agreement} agreement with the "
            f"clean labels): ILSVRC-2012 relabelled by 16 models. annotator_labels[i] and annotator_confidences[i] "
            f"come from annotator i in this order: {', '.join(ANNOTATORS)}. Their features: "
            f"imagenet_variants_lib.annotator_info('pi_{level}', data_dir)."
        ),
        splits={"train": split("train", "train_tar", LABEL_FROM_TAR), "validation": split("validation", "val_tar", LABEL_FROM_VALIDATION_FILE)},
        columns=_pi_columns,
        citation=_CITATION_PI + "\n" + _CITATION_IMAGENET,
    )


_VERSION = datasets.Version("1.0.0")

# The config table: one row per variant.
CONFIGS = [
    ImagenetVariantsConfig(
        name="imagenet2012",
        description="ILSVRC-2012 classification: train, validation and test (label -1), one split per tarball present.",
        splits={
            "train": SplitSpec("train_tar", "label", LABEL_FROM_TAR),
            "validation": SplitSpec("val_tar", "label", LABEL_FROM_VALIDATION_FILE),
            "test": SplitSpec("test_tar", "label", NO_LABEL),
        },
        optional_splits=True,
    ),
    ImagenetVariantsConfig(
        name="real",
        description="ImageNet-ReaL: the 50,000 validation images with their reassessed labels (empty list: no valid label).",
        splits={"validation": SplitSpec("val_tar", "original_label", LABEL_FROM_VALIDATION_FILE, annotations.real, ("real_json",))},
        columns=_real_columns,
        citation=_CITATION_REAL + "\n" + _CITATION_IMAGENET,
    ),
    ImagenetVariantsConfig(
        name="multilabel",
        description=(
            "Multi-label annotations of 20,000 validation images (Shankar et al. 2020, v3.0.0 with Vasudevan et al. 2022), "
            "and the 68-image ImageNet-M split."
        ),
        splits={
            "validation": SplitSpec("val_tar", "original_label", LABEL_FROM_VALIDATION_FILE, annotations.multilabel_validation, ("multilabel_json",), only_listed=True),
            "imagenet_m": SplitSpec("val_tar", "original_label", LABEL_FROM_VALIDATION_FILE, annotations.multilabel_imagenet_m, ("multilabel_json",), only_listed=True),
        },
        columns=_multilabel_columns,
        citation=_CITATION_MULTILABEL + "\n" + _CITATION_IMAGENET,
    ),
    # beta and agreement: ImageNet-PI README (../shared/spec/imagenet_pi_readme.md).
    _pi_config("low_noise", 0.5, "51.9%"),
    _pi_config("high_noise", 0.1, "16.2%"),
]
for _config in CONFIGS:
    _config.version = _VERSION


class ImagenetVariants(datasets.GeneratorBasedBuilder):
    """ILSVRC-2012 and its relabelings, read from the user's tarballs in ``data_dir``."""

    BUILDER_CONFIG_CLASS = ImagenetVariantsConfig
    # Rows per Arrow record batch: ~4 MB of ~110 KB images (datasets' default for images is 100
    # rows; smaller batches measured faster in benchmarks/bench_prepare.py).
    DEFAULT_WRITER_BATCH_SIZE = 40
    BUILDER_CONFIGS = CONFIGS
    DEFAULT_CONFIG_NAME = "imagenet2012"

    def _features(self, wnids: list[str] | None) -> datasets.Features:
        label = datasets.ClassLabel(names=wnids) if wnids else datasets.ClassLabel(num_classes=parsers.NUM_CLASSES)
        return datasets.Features({"image": datasets.Image(), **self.config.columns(label), "file_name": datasets.Value("string")})

    def _info(self) -> datasets.DatasetInfo:
        # The WNID names come from imagenet2012_labels.txt; until it is read (in _split_generators,
        # after a possible download) the ClassLabel has numeric names.
        wnids = None
        labels = sources.find(self.config.data_dir, sources.SOURCES["labels"])
        if labels is not None:
            try:
                wnids = parsers.read_class_list(labels)
            except parsers.MetadataError:
                pass  # reported with file and line by _split_generators
        return datasets.DatasetInfo(
            description=self.config.description,
            features=self._features(wnids),
            homepage=_HOMEPAGE,
            citation=self.config.citation,
        )

    def _make_split_generators_kwargs(self, prepare_split_kwargs: dict) -> dict:
        # num_proc reaches _split_generators, which cuts each split into jobs of equal bytes.
        num_proc = prepare_split_kwargs.get("num_proc")
        return {"jobs": num_proc * parallel.JOBS_PER_PROCESS if num_proc and num_proc > 1 else None}

    def _split_generators(self, dl_manager, jobs: int | None = None) -> list[datasets.SplitGenerator]:
        cfg, data_dir = self.config, self.config.data_dir
        splits = dict(cfg.splits)
        if cfg.optional_splits:
            present = {n: s for n, s in splits.items() if sources.find(data_dir, sources.SOURCES[s.archive])}
            splits = present or splits  # none present: report every tarball as missing
        needs = ["labels", *(key for spec in splits.values() for key in spec.needs)]
        files = sources.locate(
            data_dir,
            required=needs,
            downloadable=[k for k in needs if sources.SOURCES[k].url],
            download=dl_manager.download,
            config_name=f"Config {cfg.name!r}",
        )
        meta = annotations.Metadata(files, parsers.read_class_list(files["labels"]))
        self.info.features = self._features(meta.wnids)
        return [
            datasets.SplitGenerator(
                name=name,
                gen_kwargs={"shard_groups": join.group_for_jobs(join.plan(spec, meta, str(files[spec.archive])), jobs), "spec": spec, "class_index": meta.class_index, "rows_from": join.rows_file(spec, meta)},
            )
            for name, spec in splits.items()
        ]

    # Preparation writes whole Arrow tables per batch of images (datasets' ArrowBasedBuilder path):
    # the bytes read from the tar become the Arrow column without a per-image dict or copy.
    _prepare_split_single = datasets.ArrowBasedBuilder._prepare_split_single

    def _prepare_split(self, split_generator, file_format="arrow", num_proc=None, max_shard_size=None):
        # num_proc > 1: the jobs go to the pool started by _download_and_prepare (imagenet_variants_lib.parallel)
        workers = getattr(self, "_workers", None)
        if workers is not None and workers.pool is not None and len(split_generator.gen_kwargs["shard_groups"]) > 1:
            return parallel.prepare_split(self, workers, split_generator, file_format, max_shard_size)
        return datasets.ArrowBasedBuilder._prepare_split(self, split_generator, file_format=file_format, max_shard_size=max_shard_size)

    _get_examples_iterable_for_split = datasets.ArrowBasedBuilder._get_examples_iterable_for_split

    def _download_and_prepare(self, dl_manager, verification_mode, **prepare_split_kwargs):
        # datasets writes into "<dir>.incomplete" and renames it when done; a run killed with
        # SIGKILL leaves its shards there. Remove them before writing (we hold datasets' lock).
        tmp_dir = Path(self._output_dir)
        if tmp_dir.name.endswith(".incomplete"):
            for stale in [*tmp_dir.glob("*.arrow"), *tmp_dir.glob("*.parquet")]:
                stale.unlink()
        # Skip GeneratorBasedBuilder's override: on 3.6 it adds a per-key duplicate check argument
        # that the table path does not take (duplicates are refused by the archive walkers).
        # With num_proc > 1, one process pool serves every split.
        with parallel.workers(prepare_split_kwargs.get("num_proc")) as self._workers:
            try:
                datasets.DatasetBuilder._download_and_prepare(self, dl_manager, verification_mode, **prepare_split_kwargs)
            finally:
                self._workers = None

    def _generate_tables(self, shard_groups, spec, class_index, rows_from):
        yield from join.generate_tables(
            [shard for group in shard_groups for shard in group], spec, class_index, rows_from, self.info.features.arrow_schema, skip_unreadable_images=self.config.skip_unreadable_images
        )

    def _generate_examples(self, shard_groups, spec, class_index, rows_from):
        """One example per image, keyed by file name (the same rows as the tables)."""
        for _, table in self._generate_tables(shard_groups, spec, class_index, rows_from):
            for row in table.to_pylist():
                yield row["file_name"], row
