"""``export_config``: a prepared config written as Parquet shards + dataset card, in the Hub layout.

::

    OUTPUT/README.md                                   card: YAML header (configs, dataset_info) + prose
    OUTPUT/<config>/<split>-00000-of-00003.parquet     contiguous shards of the prepared split

The folder loads with plain ``datasets.load_dataset(OUTPUT, config)`` on datasets 3.6 and 5.x and
can be uploaded as it is (:mod:`.hub`). Several configs share one folder; the card lists them all.
Nothing is half-written: shards go to a temporary folder inside OUTPUT that is renamed into place
when complete, the card is replaced atomically, and a failure leaves the previous export as it was.
"""

from __future__ import annotations

import copy
import importlib.resources
import logging
import math
import os
import re
import shutil
import uuid
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from datasets.utils.py_utils import convert_file_size_to_int
from huggingface_hub import DatasetCard, DatasetCardData

from . import loading
from .fileutil import write_atomic

logger = logging.getLogger(__name__)

README = "README.md"
# The Hub's size categories, smallest first (huggingface.co/docs/hub/datasets-cards).
_SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
]
# Header keys that are lists: the combined card takes their union.
_UNION_KEYS = ("task_categories", "task_ids", "tags", "language", "source_datasets")
_GENERATED_KEYS = ("configs", "dataset_info", "pretty_name", "size_categories")


def export_config(
    config: str,
    data_dir: str | os.PathLike,
    output: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    max_shard_size: str | int = "500MB",
    reuse_existing: bool = False,
    **config_kwargs,
) -> dict:
    """Prepare ``config`` from the tarballs in ``data_dir`` and export it to ``output``.

    Returns ``{"output": path, "config": name, "splits": {split: {"num_rows": n, "files": [paths]}}}``.
    ``reuse_existing=True`` keeps this config's shards when they already hold exactly the prepared
    splits (same files, row counts and features), e.g. when an interrupted push is re-run; the card
    is rewritten either way. Extra keyword arguments set config fields (``skip_unreadable_images``).
    """
    max_bytes = _shard_bytes(max_shard_size)
    b = loading.builder(config, data_dir=data_dir, cache_dir=cache_dir, **config_kwargs)
    loading.prepare(b, num_proc=num_proc)
    return export_prepared(b, output, max_bytes, reuse_existing=reuse_existing)


def export_prepared(b: datasets.DatasetBuilder, output: str | os.PathLike, max_shard_size: str | int = "500MB", reuse_existing: bool = False) -> dict:
    """Export a builder that ``download_and_prepare`` has already run on (see :func:`export_config`)."""
    max_bytes = _shard_bytes(max_shard_size)
    config, output = b.config.name, Path(output)
    output.mkdir(parents=True, exist_ok=True)
    target = output / config
    _recover(output, config)
    dsd = b.as_dataset()
    shards = {split: _plan_shards(ds, split, max_bytes) for split, ds in dsd.items()}

    tmp = None if reuse_existing and _matches(target, shards, dsd) else _write_shards(output, config, shards)
    try:
        parquet_bytes = sum(((tmp or target) / name).stat().st_size for plan in shards.values() for name, _ in plan)
        card = _card(output / README, config, _info(b, dsd, parquet_bytes))
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, target, output / README, card)
    return {
        "output": str(output),
        "config": config,
        "splits": {
            split: {"num_rows": dsd[split].num_rows, "files": [str(target / name) for name, _ in plan]}
            for split, plan in shards.items()
        },
    }


def _shard_bytes(max_shard_size: str | int) -> int:
    """``max_shard_size`` ("500MB", 10**9) in bytes; a clear error for anything else."""
    try:
        value = convert_file_size_to_int(max_shard_size)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"max_shard_size={max_shard_size!r}: expected a size such as '500MB' or '1GB', or a number of bytes.") from exc
    if value <= 0:
        raise ValueError(f"max_shard_size={max_shard_size!r}: must be positive, e.g. '500MB'.")
    return value


def _plan_shards(ds: datasets.Dataset, split: str, max_bytes: int) -> list[tuple[str, datasets.Dataset]]:
    """(file name, contiguous shard) pairs: as many shards as the split's Arrow size needs, at most one per row."""
    n = max(1, min(math.ceil(ds.data.nbytes / max_bytes), ds.num_rows))
    return [(f"{split}-{i:05d}-of-{n:05d}.parquet", ds.shard(num_shards=n, index=i, contiguous=True)) for i in range(n)]


def _write_shards(output: Path, config: str, shards: dict[str, list]) -> Path:
    """Every shard of the config as Parquet in a new hidden folder of ``output``; removed again on failure."""
    tmp = output / f".{config}.incomplete-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        for split, plan in shards.items():
            logger.info("%s %s: writing %d Parquet file(s)", config, split, len(plan))
            for name, shard in plan:
                shard.to_parquet(str(tmp / name))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _matches(target: Path, shards: dict[str, list], dsd: datasets.DatasetDict) -> bool:
    """True when ``target`` holds exactly the planned files with the right row counts and features."""
    expected = {name: shard.num_rows for plan in shards.values() for name, shard in plan}
    if not target.is_dir() or {p.name for p in target.iterdir()} != set(expected):
        return False
    features = next(iter(dsd.values())).features
    try:
        for name, num_rows in expected.items():
            path = target / name
            if pq.read_metadata(path).num_rows != num_rows or datasets.Features.from_arrow_schema(pq.read_schema(path)) != features:
                return False
    except Exception:  # unreadable, or written by another datasets version: rewrite it
        return False
    logger.info("%s: reusing the Parquet files already in %s", target.name, target)
    return True


def _info(b: datasets.DatasetBuilder, dsd: datasets.DatasetDict, parquet_bytes: int) -> datasets.DatasetInfo:
    """The config's DatasetInfo as the card states it: features, split sizes, Parquet and Arrow bytes."""
    info = copy.deepcopy(b.info)
    info.config_name = b.config.name
    info.features = next(iter(dsd.values())).features  # ClassLabel names as prepared
    info.splits = datasets.SplitDict({s: datasets.SplitInfo(name=s, num_bytes=ds.data.nbytes, num_examples=ds.num_rows) for s, ds in dsd.items()})
    info.download_size = parquet_bytes
    info.dataset_size = sum(ds.data.nbytes for ds in dsd.values())
    return info


# ---- the card -------------------------------------------------------------------------------


# In a source checkout (imported from the repo, not installed) the cards sit beside the package.
_CHECKOUT_CARDS = Path(__file__).resolve().parents[1] / "dataset_cards"


def _source_card(config: str) -> DatasetCard | None:
    """The config's card (dataset_cards/<config>.md, shipped inside the installed package), or None."""
    try:
        text = importlib.resources.files("imagenet_variants_lib.dataset_cards").joinpath(f"{config}.md").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        path = _CHECKOUT_CARDS / f"{config}.md"
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
    return DatasetCard(text)


def _read_existing(path: Path) -> DatasetCardData:
    if not path.is_file():
        return DatasetCardData()
    try:
        return DatasetCard.load(path).data
    except Exception as exc:  # the hub raises ValueError for bad YAML, others for other damage
        raise ValueError(f"{path}: cannot read its YAML header ({type(exc).__name__}: {exc}). Fix it, or delete it and re-export every config.") from exc


def _card(readme: Path, config: str, info: datasets.DatasetInfo) -> str:
    """The new README.md: the existing card's configs plus ``config``; header and prose rebuilt from the source cards."""
    data = _config_blocks(_read_existing(readme), config, info)
    infos = data["dataset_info"] if isinstance(data["dataset_info"], list) else [{**data["dataset_info"], "config_name": config}]
    infos = {i.get("config_name", "default"): i for i in infos}
    rows = {name: sum(s.get("num_examples", 0) for s in i.get("splits", [])) for name, i in infos.items()}
    names = [c["config_name"] for c in data["configs"]]
    names = [n for n in loading.CONFIG_NAMES if n in names] + [n for n in names if n not in loading.CONFIG_NAMES]
    cards = {name: _source_card(name) for name in names}

    header = _merged_header([c.data.to_dict() for c in cards.values() if c is not None])
    header["size_categories"] = [_size_category(max(rows.values(), default=0))]
    if len(names) == 1 and cards[names[0]] is not None:
        header["pretty_name"] = cards[names[0]].data.get("pretty_name")
        body = cards[names[0]].text
    else:
        header["pretty_name"] = f"ImageNet variants ({', '.join(names)})"
        body = _combined_body(names, cards, infos)
    full = DatasetCardData(**{k: v for k, v in header.items() if v is not None}, configs=data["configs"], dataset_info=data["dataset_info"])
    return f"---\n{full.to_yaml()}\n---\n{body.lstrip()}"


def _config_blocks(existing: DatasetCardData, config: str, info: datasets.DatasetInfo) -> DatasetCardData:
    """``configs`` and ``dataset_info`` of the existing card with ``config``'s entries added or replaced."""
    data = DatasetCardData()
    for key in ("configs", "dataset_info"):
        if existing.get(key) is not None:
            data[key] = copy.deepcopy(existing[key])
    data_files = [{"split": split, "path": f"{config}/{split}-*"} for split in info.splits]
    MetadataConfigs({config: {"data_files": data_files}}).to_dataset_card_data(data)
    DatasetInfosDict({config: info}).to_dataset_card_data(data)
    data["dataset_info"] = _portable(data["dataset_info"])
    return data


def _portable(obj):
    """Card YAML that datasets 3.6 and 5.x read alike: lists as ``sequence:``.

    datasets >= 4 writes ``list: int64`` + ``length: 16``, which 3.6 reads as a variable-length
    list (dropping ``length``); both read ``sequence:`` the same way. A list of structs stays ``list:``
    (5.x reads ``sequence:`` of a struct as a struct of lists).
    """
    if isinstance(obj, list):
        return [_portable(x) for x in obj]
    if isinstance(obj, dict):
        return {("sequence" if k == "list" and not isinstance(v, list) else k): _portable(v) for k, v in obj.items()}
    return obj


def _merged_header(headers: list[dict]) -> dict:
    """Union of the source cards' headers: list keys united in order, other keys from the first card."""
    merged: dict = {}
    for header in headers:
        for key, value in header.items():
            if key in _GENERATED_KEYS:
                continue
            if key in _UNION_KEYS:
                values = merged.setdefault(key, [])
                values.extend(v for v in (value if isinstance(value, list) else [value]) if v not in values)
            else:
                merged.setdefault(key, value)
    return merged


def _size_category(num_examples: int) -> str:
    for bound, name in _SIZE_CATEGORIES:
        if num_examples < bound:
            return name
    return "n>1B"


def _demote(markdown: str) -> str:
    """Every ATX heading one level deeper (``#`` -> ``##``), leaving fenced code blocks alone."""
    out, fence = [], None
    for line in markdown.splitlines():
        marker = re.match(r"\s*(```+|~~~+)", line)
        if marker:
            token = marker.group(1)[0] * 3
            fence = None if fence == token else (fence or token)
        elif fence is None and re.match(r"#{1,5} ", line):
            line = "#" + line
        out.append(line)
    return "\n".join(out) + "\n"


def _combined_body(names: list[str], cards: dict, infos: dict[str, dict]) -> str:
    """Intro with a table of the configs, then each config's card prose one heading level down."""
    table = ["| config | dataset | splits (examples) |", "|---|---|---|"]
    for name in names:
        pretty = cards[name].data.get("pretty_name", name) if cards[name] is not None else name
        splits = ", ".join(f"`{s['name']}` ({s.get('num_examples', 0):,})" for s in infos.get(name, {}).get("splits", []))
        table.append(f"| `{name}` | {pretty} | {splits} |")
    intro = (
        "# ImageNet variants\n\n"
        "ILSVRC-2012 and its relabelings, exported by `imagenet-variants` from the original tarballs. "
        "This dataset has one config per variant; load one by name:\n\n"
        "```python\nfrom datasets import load_dataset\n"
        f'ds = load_dataset("<this repo id or folder>", "{names[0]}")\n```\n\n' + "\n".join(table) + "\n\n"
    )
    sections = [_demote(cards[n].text) if cards[n] is not None else f"## `{n}`\n\nNo card is available for this config.\n" for n in names]
    return intro + "\n".join(sections)


# ---- putting files in place ------------------------------------------------------------------


def _recover(output: Path, config: str) -> None:
    """Clean up after a killed export: restore a config folder moved aside, drop unfinished ones."""
    target = output / config
    for old in output.glob(f".{config}.old-*"):
        if not target.exists():
            os.replace(old, target)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in output.glob(f".{config}.incomplete-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    for tmp in output.glob(f".{README}.*.tmp"):
        tmp.unlink()


def _swap_in(tmp: Path | None, target: Path, readme: Path, card: str) -> None:
    """Rename the finished ``tmp`` folder to ``target`` and write the card; on failure, restore both."""
    if tmp is None:  # the existing files are reused
        write_atomic(readme, card)
        return
    backup = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}") if target.exists() else None
    moved = False
    try:
        if backup is not None:
            os.replace(target, backup)
        os.replace(tmp, target)
        moved = True
        write_atomic(readme, card)
    except BaseException:
        if moved:  # the card does not list these files: take them out again
            shutil.rmtree(target, ignore_errors=True)
        if backup is not None and backup.exists():
            os.replace(backup, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
