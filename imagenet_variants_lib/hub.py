"""``push_config``: export a config and upload it to a Hugging Face Hub dataset repo, private by default.

The upload uses ``HfApi.upload_folder``: in the huggingface_hub we run on (2.4, with ``hf_xet``,
installed by default) it is the resumable uploader, committing in several batches, and re-running
the same call after an interruption skips committed files and re-sends no stored chunks
(``upload_large_folder``, which used to do this job, is not in huggingface_hub 2.4). The shards go
first and README.md, which makes them a config, last, so the card never lists files that are not
there yet; this config's shards from an earlier push with another shard count are deleted in the
same upload. A re-run also keeps the export already staged on disk (``reuse_existing``).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import datasets
from huggingface_hub import HfApi

from . import export
from .errors import ImagenetVariantsError

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"


def default_export_dir(repo_id: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``push_config`` stages the export of ``repo_id``: a folder under the datasets cache."""
    root = Path(cache_dir) if cache_dir is not None else Path(datasets.config.HF_DATASETS_CACHE)
    return root / "imagenet_variants_exports" / repo_id.replace("/", "--")


def push_config(
    config: str,
    data_dir: str | os.PathLike,
    repo_id: str,
    private: bool = True,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    token: str | None = None,
    export_dir: str | os.PathLike | None = None,
    max_shard_size: str | int = "500MB",
) -> str:
    """Export ``config`` (see :func:`export.export_config`) and upload it to the dataset repo ``repo_id``.

    The repo is created private unless ``private=False``; an existing public repo is refused when
    ``private=True``. ``token=None`` uses ``HF_TOKEN`` or the cached ``hf auth login`` token. Several
    configs pushed to one repo share its card. Returns the repo URL.
    """
    api = HfApi(token=token)
    # Visibility first, before hours of export: never upload into a public repo unless asked to.
    exists = api.repo_exists(repo_id, repo_type=REPO_TYPE)
    if exists:
        _refuse_public(api, repo_id, private)
    if not private:  # an existing repo keeps its visibility; a new one is created public
        logger.warning("%s: private=False; share ImageNet images only as the ImageNet terms of access allow.", repo_id)

    export_dir = Path(export_dir) if export_dir is not None else default_export_dir(repo_id, cache_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    if exists:
        _start_from_remote_card(api, repo_id, export_dir)
    result = export.export_config(config, data_dir, export_dir, cache_dir=cache_dir, num_proc=num_proc,
                                  max_shard_size=max_shard_size, reuse_existing=True)

    url = api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    _refuse_public(api, repo_id, private)  # again: it may have been created meanwhile
    shards = f"{config}/*.parquet"
    api.upload_folder(repo_id=repo_id, repo_type=REPO_TYPE, folder_path=str(export_dir), allow_patterns=[shards],
                      delete_patterns=[shards], commit_message=f"Upload config {config} (Parquet shards)")
    api.upload_file(path_or_fileobj=str(export_dir / export.README), path_in_repo=export.README, repo_id=repo_id,
                    repo_type=REPO_TYPE, commit_message=f"Update dataset card: config {config}")
    logger.info("%s: %d split(s) uploaded to %s", config, len(result["splits"]), url)
    return str(url)


def _refuse_public(api: HfApi, repo_id: str, private: bool) -> None:
    """Raise if ``private`` was asked for and the existing repo is public."""
    if private and not api.repo_info(repo_id, repo_type=REPO_TYPE).private:
        raise ImagenetVariantsError(
            f"The dataset repo {repo_id} already exists and is public; uploading ImageNet images there would publish "
            f"them (the ImageNet terms of access allow no redistribution). Make it private first (its Settings page, or "
            f"HfApi().update_repo_settings({repo_id!r}, private=True, repo_type='dataset')) and re-run, or push to a new repo id."
        )


def _start_from_remote_card(api: HfApi, repo_id: str, export_dir: Path) -> None:
    """Make the repo's README.md the card the export adds to, so configs pushed from elsewhere stay listed."""
    if not api.file_exists(repo_id, export.README, repo_type=REPO_TYPE):
        return
    remote = api.hf_hub_download(repo_id, export.README, repo_type=REPO_TYPE)
    tmp = export_dir / f".{export.README}.remote.tmp"
    shutil.copyfile(remote, tmp)
    os.replace(tmp, export_dir / export.README)
