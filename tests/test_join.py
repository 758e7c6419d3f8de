"""How a split's shards are cut into jobs for num_proc workers (join.group_for_jobs), and the pool that runs them (parallel)."""

from __future__ import annotations

import os
import random

import datasets
import pytest

from imagenet_variants import ImagenetVariants
from imagenet_variants_lib import join, load_variant, parallel
from imagenet_variants_lib.archives import Member, Shard
from imagenet_variants_lib.join import group_for_jobs
from imagenet_variants_lib.parallel import JOBS_PER_PROCESS


def class_tars(sizes: list[int]) -> list[Shard]:
    return [Shard("train.tar", inner=Member(f"n{i:08d}.tar", 512 * (i + 1), size)) for i, size in enumerate(sizes)]


def group_bytes(groups: list[list[Shard]]) -> list[int]:
    return [sum(s.nbytes for s in g) for g in groups]


@pytest.mark.parametrize("num_proc", [2, 3, 4, 7])
def test_groups_keep_tar_order_and_balance_bytes(num_proc):
    rng = random.Random(num_proc)
    # ILSVRC-2012 train classes hold 732 to 1,300 images of ~110 KB
    shards = class_tars([rng.randint(732, 1300) * 110_000 for _ in range(40)])
    groups = group_for_jobs(shards, num_proc)
    assert [s for g in groups for s in g] == shards
    assert len(groups) == num_proc
    ideal, largest = sum(s.nbytes for s in shards) / num_proc, max(s.nbytes for s in shards)
    for nbytes in group_bytes(groups):
        assert abs(nbytes - ideal) <= largest


def test_groups_are_cut_by_bytes_not_by_count():
    # datasets alone would give the 10 large tars to one worker and the 10 small ones to the other
    shards = class_tars([1000] * 10 + [10] * 10)
    assert group_bytes(group_for_jobs(shards, 2)) == [5000, 5100]


def test_flat_shards_are_weighed_by_their_members():
    shards = [Shard("val.tar", members=tuple(Member(f"ILSVRC2012_val_{k:08d}.JPEG", k * 4096, size) for k in range(3))) for size in (9, 1, 1, 1)]
    assert group_bytes(group_for_jobs(shards, 2)) == [27, 9]


def test_without_jobs_one_group_per_shard():
    shards = class_tars([5, 1, 7])
    assert group_for_jobs(shards, None) == [[s] for s in shards]
    assert group_for_jobs(shards, 1) == [shards]
    assert group_for_jobs(class_tars([0, 0]), 2) == [class_tars([0, 0])]


def test_a_huge_shard_leaves_no_empty_group():
    shards = class_tars([1, 100, 1])
    groups = group_for_jobs(shards, 4)
    assert all(groups) and [s for g in groups for s in g] == shards
    assert group_for_jobs([], 2) == []


def test_the_builder_cuts_jobs_per_process(fake, tmp_path):
    builder = ImagenetVariants(config_name="imagenet2012", data_dir=str(fake.root), cache_dir=str(tmp_path))
    jobs = builder._make_split_generators_kwargs({"num_proc": 2})["jobs"]
    assert jobs == 2 * JOBS_PER_PROCESS and builder._make_split_generators_kwargs({})["jobs"] is None
    splits = {g.name: g.gen_kwargs["shard_groups"] for g in builder._split_generators(datasets.DownloadManager(), jobs=jobs)}
    single = {g.name: g.gen_kwargs["shard_groups"] for g in builder._split_generators(datasets.DownloadManager())}
    for name, groups in splits.items():
        assert len(groups) <= jobs and (len(groups) > 1) == (len(single[name]) > 1), name
        assert [s for g in groups for s in g] == [s for g in single[name] for s in g]


def test_a_worker_that_dies_is_reported_not_waited_for(fake, tmp_path, monkeypatch):
    parent = os.getpid()
    real = join.generate_tables

    def dies_in_a_worker(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(1)  # as the kernel's OOM killer would end it: no exception, no result
        yield from real(*args, **kwargs)

    monkeypatch.setattr(join, "generate_tables", dies_in_a_worker)
    with pytest.raises(RuntimeError, match="A worker process died while preparing the train split"):
        load_variant("imagenet2012", data_dir=fake.root, cache_dir=tmp_path, num_proc=2)
    assert not list(tmp_path.rglob("*.arrow"))


def test_progress_bar_counts_every_example_with_num_proc(fake, tmp_path, monkeypatch):
    counted = []
    real = parallel.hf_tqdm

    class Recording(real):
        def update(self, n=1):
            counted.append(n)
            return super().update(n)

    monkeypatch.setattr(parallel, "hf_tqdm", Recording)
    dsd = load_variant("imagenet2012", data_dir=fake.root, cache_dir=tmp_path, num_proc=2)
    # validation and test are one shard each in the fake data: they take datasets' own path
    assert sum(counted) == dsd["train"].num_rows > 0
