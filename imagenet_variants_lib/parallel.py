"""``num_proc`` preparation: one process pool for every split, and jobs of equal bytes.

datasets' own ``num_proc`` path (``ArrowBasedBuilder._prepare_split``) starts a pool and a
``Manager`` for each split, cuts each split into ``num_proc`` jobs by count of shards, and polls
for progress every 50 ms; ~0.1 s per split to start and stop, measured on the benchmark's 44,000
images. Here the pool lives for the whole ``download_and_prepare``, each split is cut into
``JOBS_PER_PROCESS`` x ``num_proc`` jobs of equal bytes (:func:`join.group_for_jobs`) that idle
workers take in turn, and the parent blocks on a queue instead of polling.

Each job runs datasets' own ``_prepare_split_single`` and writes its own Arrow files; they are
renamed in job order, which is tar order, as datasets does: the rows come out in the same order as
with one process. Only the split bookkeeping of ``_prepare_split`` is repeated here (numbers,
shard lengths, renames), for both result shapes (datasets 3.x: 5 fields, 4.x and later: 7).
"""

from __future__ import annotations

import contextlib
import posixpath
import queue as queues
from typing import Iterator

import multiprocess  # datasets' own dependency: pickles the builder's bound method with dill
from datasets import config
from datasets.exceptions import DatasetGenerationError
from datasets.utils import tqdm as hf_tqdm
from datasets.utils.py_utils import convert_file_size_to_int

from .errors import ImagenetVariantsError

# Jobs per worker process and split: more let a worker that runs slower hand work over (with
# datasets' path, job 1 finished 0.1-0.7 s after job 0 in every num_proc=2 run timed on the
# 2-vCPU VMs, identical work; the cause was not pinned down), but each job costs its own start
# and files. num_proc=2 on 44,000 images, median of 10 interleaved
# runs each: datasets' path 3.17 s; here 1 job per process 3.03 s, 2 jobs 2.95 s (another 10:
# 3.38 s vs 2.99 s for 1 job; 3 jobs 3.34 s; 8 jobs measured 3.38 s vs 3.24 s).
JOBS_PER_PROCESS = 2

_queue = None  # in each worker: where progress goes (set by the pool's initializer)


def _init_worker(queue) -> None:
    global _queue
    _queue = queue


def _run_job(prepare_split_single, kwargs: dict):
    """One job in a worker: progress to the parent's queue as it goes, the result returned at the end."""
    job_id, content = kwargs["job_id"], None
    try:
        for _, done, item in prepare_split_single(**kwargs):
            if done:
                content = item
            else:
                _queue.put((job_id, item))
        return content
    except DatasetGenerationError as exc:
        # The pool sends the exception to the parent by pickling it, which drops __cause__: send our
        # own error (file, member, fix), which datasets wrapped, instead of the wrapper.
        if isinstance(exc.__cause__, ImagenetVariantsError):
            raise exc.__cause__ from None
        raise
    finally:
        _queue.put((job_id, None))  # this job is over (its result or error follows through the pool)


class Workers:
    """A pool of ``num_proc`` processes and the queue they report progress on.

    Held by the builder during ``download_and_prepare``; pickles as an empty holder, so that the
    builder can still be sent to the workers with it attached.
    """

    def __init__(self, pool=None, queue=None):
        self.pool, self.queue = pool, queue

    def __reduce__(self):
        return Workers, ()


def _pids(pool) -> set[int]:
    return {p.pid for p in pool._pool}  # as datasets' iflatmap_unordered checks for dead workers


@contextlib.contextmanager
def workers(num_proc: int | None) -> Iterator[Workers]:
    """A running pool for ``num_proc`` > 1 (terminated on exit), else an empty holder."""
    if not num_proc or num_proc <= 1:
        yield Workers()
        return
    queue = multiprocess.Queue()
    with multiprocess.Pool(num_proc, initializer=_init_worker, initargs=(queue,)) as pool:
        yield Workers(pool, queue)


def prepare_split(builder, workers: Workers, split_generator, file_format: str = "arrow", max_shard_size=None) -> None:
    """What ``ArrowBasedBuilder._prepare_split`` does with ``num_proc``, on ``workers``, one job per shard group."""
    max_shard_size = convert_file_size_to_int(max_shard_size or config.MAX_SHARD_SIZE)
    split_info = split_generator.split_info
    try:
        known = builder.info.splits[split_generator.name]  # sizes of an earlier run, for the progress bar
    except Exception:
        known = split_info
    suffix = "-JJJJJ-SSSSS-of-NNNNN"
    fpath = posixpath.join(builder._output_dir, f"{builder.dataset_name}-{split_generator.name}{suffix}.{file_format}")
    groups = split_generator.gen_kwargs["shard_groups"]
    jobs = [
        {"gen_kwargs": {**split_generator.gen_kwargs, "shard_groups": [group]}, "job_id": job_id, "fpath": fpath, "file_format": file_format, "max_shard_size": max_shard_size}
        for job_id, group in enumerate(groups)
    ]
    pending = [workers.pool.apply_async(_run_job, (builder._prepare_split_single, kwargs)) for kwargs in jobs]
    results: list = [None] * len(jobs)
    pids = _pids(workers.pool)
    with hf_tqdm(unit=" examples", total=known.num_examples, desc=f"Generating {split_info.name} split") as pbar:
        running = len(jobs)
        while running:
            try:
                job_id, progress = workers.queue.get(timeout=1.0)
            except queues.Empty:
                if _pids(workers.pool) != pids:  # the pool replaced a worker: its job is lost
                    raise RuntimeError(
                        f"A worker process died while preparing the {split_info.name} split (killed, or out of memory?). "
                        f"Run again, with fewer processes (num_proc) if memory is short."
                    ) from None
                continue
            if progress is None:
                running -= 1
                results[job_id] = pending[job_id].get()  # raises the job's error, if any
            else:
                pbar.update(progress)

    # The bookkeeping of datasets' ArrowBasedBuilder._prepare_split, on the jobs' results.
    examples, nbytes, features, shards, shard_lengths = ([r[i] for r in results] for i in range(5))
    total_shards = sum(shards)
    split_info.num_examples, split_info.num_bytes = sum(examples), sum(nbytes)
    if total_shards > 1:
        first = 0
        for job_id, count in enumerate(shards):
            for shard_id in range(count):
                builder._rename(
                    fpath.replace("SSSSS", f"{shard_id:05d}").replace("JJJJJ", f"{job_id:05d}"),
                    fpath.replace("JJJJJ-SSSSS", f"{first + shard_id:05d}").replace("NNNNN", f"{total_shards:05d}"),
                )
            first += count
        split_info.shard_lengths = [n for lengths in shard_lengths for n in lengths]
    else:
        builder._rename(fpath.replace("SSSSS", "00000").replace("JJJJJ", "00000"), fpath.replace(suffix, ""))
    if len(results[0]) == 7 and sum(r[5] for r in results) > 1 and getattr(config, "SAVE_ORIGINAL_SHARD_LENGTHS", False):
        split_info.original_shard_lengths = [n for r in results for n in r[6]]
    if builder.info.features is None:
        builder.info.features = features[0]
