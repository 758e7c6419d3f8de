"""push_config against a fake Hub: ``huggingface_hub.HfApi`` methods are patched, nothing leaves the machine."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import DatasetCard, HfApi, RepoUrl
from huggingface_hub.utils import filter_repo_objects

from imagenet_variants_lib import ImagenetVariantsError, MissingFilesError
from imagenet_variants_lib import export
from imagenet_variants_lib.export import export_config
from imagenet_variants_lib.hub import default_export_dir, push_config

REPO_ID = "me/imagenet-variants"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A fake Hub with one dataset repo: records calls; ``state.private`` is None until the repo exists."""
    state = SimpleNamespace(private=None, readme=None, tokens=[], created=[], uploads=[], cards=[])

    def create_repo(self, repo_id, *, repo_type=None, private=None, exist_ok=False, **kwargs):
        state.tokens.append(self.token)
        state.created.append({"repo_id": repo_id, "repo_type": repo_type, "private": private, "exist_ok": exist_ok})
        if state.private is None:
            state.private = bool(private)
        return RepoUrl(f"https://huggingface.co/datasets/{repo_id}")

    def repo_exists(self, repo_id, *, repo_type=None, **kwargs):
        assert repo_type == "dataset"
        return state.private is not None

    def repo_info(self, repo_id, *, repo_type=None, **kwargs):
        assert repo_type == "dataset" and state.private is not None
        return SimpleNamespace(id=repo_id, private=state.private)

    def file_exists(self, repo_id, filename, *, repo_type=None, **kwargs):
        return filename == "README.md" and state.readme is not None

    def hf_hub_download(self, repo_id, filename, *, repo_type=None, **kwargs):
        path = tmp_path / "hub-download" / filename
        path.parent.mkdir(exist_ok=True)
        path.write_text(state.readme)
        return str(path)

    def upload_folder(self, *, repo_id, folder_path, repo_type=None, allow_patterns=None, ignore_patterns=None, delete_patterns=None, **kwargs):
        local = sorted(p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file())
        files = list(filter_repo_objects(local, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns))
        state.uploads.append({"repo_id": repo_id, "repo_type": repo_type, "files": files, "delete_patterns": delete_patterns})

    def upload_file(self, *, path_or_fileobj, path_in_repo, repo_id, repo_type=None, **kwargs):
        state.cards.append({"path_in_repo": path_in_repo, "repo_type": repo_type, "text": Path(path_or_fileobj).read_text()})
        state.readme = state.cards[-1]["text"]

    for name, fn in [("create_repo", create_repo), ("repo_exists", repo_exists), ("repo_info", repo_info), ("file_exists", file_exists),
                     ("hf_hub_download", hf_hub_download), ("upload_folder", upload_folder), ("upload_file", upload_file)]:
        monkeypatch.setattr(HfApi, name, fn)
    return state


def test_push_creates_a_private_repo_and_uploads_shards_then_card(fake, cache_dir, hub):
    url = push_config("real", fake.root, REPO_ID, cache_dir=cache_dir)
    assert url == f"https://huggingface.co/datasets/{REPO_ID}"
    assert hub.created == [{"repo_id": REPO_ID, "repo_type": "dataset", "private": True, "exist_ok": True}]
    assert hub.tokens == [None]  # HF_TOKEN / cached login, resolved by huggingface_hub
    assert hub.uploads == [{"repo_id": REPO_ID, "repo_type": "dataset", "files": ["real/validation-00000-of-00001.parquet"], "delete_patterns": ["real/*.parquet"]}]
    [readme] = hub.cards
    assert (readme["path_in_repo"], readme["repo_type"]) == ("README.md", "dataset")
    card = DatasetCard(readme["text"])
    assert card.data.configs == [{"config_name": "real", "data_files": [{"split": "validation", "path": "real/validation-*"}]}]
    assert card.text.startswith("# ImageNet-ReaL (`real`)")
    export_dir = default_export_dir(REPO_ID, cache_dir)
    assert export_dir == Path(cache_dir) / "imagenet_variants_exports" / "me--imagenet-variants"
    assert (export_dir / "README.md").read_text() == readme["text"]


def test_public_only_when_asked(fake, cache_dir, hub):
    push_config("real", fake.root, REPO_ID, private=False, cache_dir=cache_dir, token="hf_test")
    assert hub.created[0]["private"] is False and hub.private is False
    assert hub.tokens == ["hf_test"]
    assert len(hub.uploads) == len(hub.cards) == 1


def test_an_existing_public_repo_is_refused_when_private_was_asked(fake, cache_dir, hub):
    hub.private = False  # the repo exists and is public
    with pytest.raises(ImagenetVariantsError, match=f"{REPO_ID} already exists and is public"):
        push_config("real", fake.root, REPO_ID, cache_dir=cache_dir)
    assert hub.created == [] and hub.uploads == [] and hub.cards == []
    assert not default_export_dir(REPO_ID, cache_dir).exists()  # refused before any work


def test_a_failed_export_creates_no_repo(fake_copy, cache_dir, hub):
    (fake_copy.root / "real.json").unlink()
    with pytest.raises(MissingFilesError, match="real.json"):
        push_config("real", fake_copy.root, REPO_ID, cache_dir=cache_dir)
    assert hub.created == [] and hub.uploads == []


def test_a_repo_made_public_during_the_export_is_refused(fake, cache_dir, hub, monkeypatch):
    real_export = export.export_config

    def export_then_someone_creates_the_repo(*args, **kwargs):
        result = real_export(*args, **kwargs)
        hub.private = False
        return result

    monkeypatch.setattr(export, "export_config", export_then_someone_creates_the_repo)
    with pytest.raises(ImagenetVariantsError, match="is public"):
        push_config("real", fake.root, REPO_ID, cache_dir=cache_dir)
    assert hub.uploads == [] and hub.cards == []


def test_an_existing_private_repo_stays_private(fake, cache_dir, hub):
    hub.private = True
    push_config("real", fake.root, REPO_ID, private=False, cache_dir=cache_dir)
    assert hub.private is True and len(hub.cards) == 1


def test_a_second_config_joins_the_repo_card(fake, cache_dir, hub, tmp_path):
    # The repo already holds `real`, pushed from another machine: its card is kept and extended.
    elsewhere = tmp_path / "elsewhere"
    export_config("real", fake.root, elsewhere, cache_dir=cache_dir)
    hub.private, hub.readme = True, (elsewhere / "README.md").read_text()
    push_config("pi_low_noise", fake.root, REPO_ID, cache_dir=cache_dir, max_shard_size="8KB")
    shards = sorted(f"pi_low_noise/{p.name}" for p in default_export_dir(REPO_ID, cache_dir).joinpath("pi_low_noise").iterdir())
    assert hub.uploads[0]["files"] == shards and len(shards) > 2  # only this config's shards; the card goes last
    card = DatasetCard(hub.cards[-1]["text"])
    assert [c["config_name"] for c in card.data.configs] == ["pi_low_noise", "real"]
    assert card.data.pretty_name == "ImageNet variants (real, pi_low_noise)"


def test_a_rerun_reuses_the_exported_shards(fake, cache_dir, hub):
    push_config("pi_low_noise", fake.root, REPO_ID, cache_dir=cache_dir)
    shards = sorted(default_export_dir(REPO_ID, cache_dir).joinpath("pi_low_noise").iterdir())
    before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in shards]
    push_config("pi_low_noise", fake.root, REPO_ID, cache_dir=cache_dir)  # e.g. after an interrupted upload
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in shards] == before
    assert hub.uploads[0]["files"] == hub.uploads[1]["files"] and hub.cards[0]["text"] == hub.cards[1]["text"]
