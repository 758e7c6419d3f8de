"""Shared fixtures: a fake ImageNet built once per session, a fresh cache per test, no network."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

sys.path.insert(0, str(Path(__file__).parent))
import fakenet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "imagenet_variants.py"
# The real public metadata, read only when present (never copied into the repo): the folder named
# by $IMAGENET_VARIANTS_REFDATA, else ../shared/refdata beside the checkout.
REFDATA = Path(os.environ.get("IMAGENET_VARIANTS_REFDATA") or REPO.parent / "shared" / "refdata")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never reach the network: any connection attempt fails loudly."""

    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise RuntimeError(f"network access attempted in a test: {address}")
        return real_connect(sock, address)  # multiprocessing's local (AF_UNIX) sockets

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="session")
def fake(tmp_path_factory) -> fakenet.FakeImagenet:
    """The full fake ImageNet (all tarballs and metadata). Tests must not modify it."""
    return fakenet.build(tmp_path_factory.mktemp("fake") / "data")


@pytest.fixture
def fake_copy(fake, tmp_path) -> fakenet.FakeImagenet:
    """A private copy of the fake data that a test may break."""
    root = tmp_path / "data"
    shutil.copytree(fake.root, root)
    fake_copy = fakenet.FakeImagenet(**{**fake.__dict__, "root": root})
    return fake_copy


@pytest.fixture
def cache_dir(tmp_path) -> str:
    return str(tmp_path / "cache")


def refdata(name: str) -> Path:
    """A real metadata file from ../shared/refdata, or skip the test when it is absent."""
    path = REFDATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present (real metadata is optional)")
    return path


def datasets_major() -> int:
    import datasets

    return int(datasets.__version__.split(".")[0])
