"""The measurements of ``bench_prepare.py``, each in a fresh interpreter, and their peak RSS.

The parent calls :func:`run_child` with the arguments of :func:`floor_args`, :func:`builder_args` or
:func:`pi_args`; it runs this file again (``python benchmarks/children.py --child KIND ...``, found
by its absolute path, with the repository as working directory and first on ``PYTHONPATH``), which
does one measurement and writes its result as JSON to ``--child-out``:

* ``floor``: plain Python, every image streamed out of the nested train tar and the val tar into
  one file, then fsync: the least any preparation must do.
* ``builder``: ``builder(config, ...).download_and_prepare(num_proc=...)`` (``imagenet2012`` or
  ``pi_high_noise``), then an fsync of the Arrow files; imports are timed apart.
* ``read_pi`` / ``csv_baseline``: the ImageNet-PI train CSVs parsed by ``parsers.read_pi`` or by
  the ``csv`` module.
* ``write``: the machine alone, no tar and no Python per image: ``--bytes`` written from one
  reused 4 MiB buffer into new files by ``--procs`` processes at once (an equal share each), as
  ``dd`` would; how well writing into the page cache scales with processes here.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from fake_imagenet import NUM_ANNOTATORS, NUM_CLASSES, PI_CONFIDENCES, PI_LABELS, TRAIN_TAR, VAL_TAR

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KINDS = ("floor", "builder", "read_pi", "csv_baseline", "write")


# --------------------------------------------------------------------------------------------
# In the child
# --------------------------------------------------------------------------------------------


def _copy_files(tar: tarfile.TarFile, out) -> tuple[int, int]:
    """Every file of a stream-mode tar read and appended to ``out``; (files, bytes)."""
    images = nbytes = 0
    for info in tar:
        if info.isfile():
            data = tar.extractfile(info).read()
            out.write(data)
            images += 1
            nbytes += len(data)
    return images, nbytes


def child_floor(data_dir: Path, out_file: Path) -> dict:
    """Plain Python: every image streamed out of the nested train tar and the val tar, appended to one file."""
    t0 = time.perf_counter()
    images = nbytes = 0
    with open(out_file, "wb") as out:
        with tarfile.open(data_dir / TRAIN_TAR, mode="r|") as outer:
            for member in outer:
                if member.isfile():
                    with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as inner:
                        n, b = _copy_files(inner, out)
                        images, nbytes = images + n, nbytes + b
        with tarfile.open(data_dir / VAL_TAR, mode="r|") as val:
            n, b = _copy_files(val, out)
            images, nbytes = images + n, nbytes + b
        out.flush()
        os.fsync(out.fileno())
    seconds = time.perf_counter() - t0
    out_file.unlink()
    return {"seconds": seconds, "images": images, "image_bytes": nbytes}


def _fsync_tree(root: Path, suffix: str = ".arrow") -> None:
    for path in root.rglob(f"*{suffix}"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def child_builder(config: str, data_dir: Path, cache_dir: Path, num_proc: int | None, cprofile_out: str | None, writer_batch_size: int | None) -> dict:
    """``builder(config, ...).download_and_prepare(num_proc=...)`` timed; the Arrow output is fsynced after."""
    t_import = time.perf_counter()
    import datasets

    from imagenet_variants_lib import builder

    import_seconds = time.perf_counter() - t_import
    profiler = None
    if cprofile_out:
        import cProfile

        profiler = cProfile.Profile()
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    extra = {"writer_batch_size": writer_batch_size} if writer_batch_size else {}
    b = builder(config, data_dir=data_dir, cache_dir=cache_dir, **extra)
    b.download_and_prepare(num_proc=num_proc)
    if profiler:
        profiler.disable()
        profiler.dump_stats(cprofile_out)
    prepare_seconds = time.perf_counter() - t0
    _fsync_tree(cache_dir)  # the floor fsyncs its output too: compare durable writes with durable writes
    seconds = time.perf_counter() - t0
    arrow_files = list(cache_dir.rglob("*.arrow"))
    return {
        "seconds": seconds,
        "prepare_seconds": prepare_seconds,
        "fsync_seconds": seconds - prepare_seconds,
        "import_seconds": import_seconds,
        "images": sum(s.num_examples for s in b.info.splits.values()),
        "splits": {name: s.num_examples for name, s in b.info.splits.items()},
        "arrow_bytes": sum(p.stat().st_size for p in arrow_files),
        "arrow_files": len(arrow_files),
        "datasets_version": datasets.__version__,
    }


def _write_share(path: str, nbytes: int) -> None:
    block = b"\x5a" * (4 << 20)
    with open(path, "wb", buffering=0) as f:
        for _ in range(nbytes // len(block)):
            f.write(block)
        f.write(block[: nbytes % len(block)])


def child_write(scratch: Path, nbytes: int, procs: int) -> dict:
    """``nbytes`` written into new files in ``scratch`` by ``procs`` processes (forked first, then timed), no fsync."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(procs + 1)

    def worker(i: int) -> None:
        start.wait()
        _write_share(str(scratch / f"write-{i}.out"), nbytes // procs)

    workers = [ctx.Process(target=worker, args=(i,)) for i in range(procs)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    if any(w.exitcode for w in workers):
        raise RuntimeError("a writer failed")
    for path in scratch.glob("write-*.out"):
        path.unlink()
    return {"seconds": seconds, "bytes": nbytes, "procs": procs}


def _read_csv(path: str, parse, low, high) -> dict[str, list]:
    """``name -> [16 values]`` of a PI CSV with the csv module; every value parsed and checked in [low, high]."""
    out = {}
    with open(path, newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            values = [parse(v) for v in row[1:]]
            if len(values) != NUM_ANNOTATORS or not all(low <= v <= high for v in values):
                raise ValueError(f"{path}, line {line}: bad row {row!r}")
            out[row[0]] = values
    return out


def csv_baseline(labels_path: str, confidences_path: str) -> tuple[dict, dict]:
    """What one would write with the csv module: name -> 16 ints in 0..999, name -> 16 floats in [0, 1]."""
    labels = _read_csv(labels_path, int, 0, NUM_CLASSES - 1)
    confidences = _read_csv(confidences_path, float, 0.0, 1.0)
    if labels.keys() != confidences.keys():
        raise ValueError("the two files list different images")
    return labels, confidences


def child_pi(pi_dir: Path, which: str) -> dict:
    labels, confidences = str(pi_dir / PI_LABELS), str(pi_dir / PI_CONFIDENCES)
    if which == "read_pi":
        from imagenet_variants_lib import parsers

        t0 = time.perf_counter()
        rows = parsers.read_pi(labels, confidences).num_rows
    else:
        t0 = time.perf_counter()
        rows = len(csv_baseline(labels, confidences)[0])
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def proc_kib(path: str, field: str) -> int | None:
    """The ``<field>:  N kB`` line of a /proc file (``/proc/self/status``, ``/proc/meminfo``), in KiB."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child_main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="One measurement of benchmarks/bench_prepare.py (run by it, not by hand).")
    ap.add_argument("--child", choices=KINDS, required=True)
    ap.add_argument("--child-out", required=True, help="where the result goes (JSON)")
    ap.add_argument("--data-dir", help="the fake ImageNet (floor, builder)")
    ap.add_argument("--scratch", help="the floor's output file, or the builder's cache_dir")
    ap.add_argument("--config", default="imagenet2012", help="the builder's config (builder)")
    ap.add_argument("--num-proc", type=int, default=None)
    ap.add_argument("--writer-batch-size", type=int, default=None)
    ap.add_argument("--cprofile-out", default=None)
    ap.add_argument("--pi-dir", help="the synthetic PI CSVs (read_pi, csv_baseline)")
    ap.add_argument("--bytes", type=int, default=None, help="bytes to write (write)")
    ap.add_argument("--procs", type=int, default=1, help="processes writing at once (write)")
    args = ap.parse_args(argv)
    if args.child == "floor":
        result = child_floor(Path(args.data_dir), Path(args.scratch))
    elif args.child == "builder":
        result = child_builder(args.config, Path(args.data_dir), Path(args.scratch), args.num_proc, args.cprofile_out, args.writer_batch_size)
    elif args.child == "write":
        result = child_write(Path(args.scratch), args.bytes, args.procs)
    else:
        result = child_pi(Path(args.pi_dir), args.child)
    vmhwm = proc_kib("/proc/self/status", "VmHWM")
    result["self_peak_rss_mib"] = vmhwm / 1024 if vmhwm is not None else None
    # The largest reaped child: a num_proc pool worker (0 without). KiB on Linux.
    result["workers_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    Path(args.child_out).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# In the parent
# --------------------------------------------------------------------------------------------


def floor_args(data_dir: Path, out_file: Path) -> list[str]:
    return ["--child", "floor", "--data-dir", str(data_dir), "--scratch", str(out_file)]


def builder_args(data_dir: Path, cache_dir: Path, num_proc: int | None = None, writer_batch_size: int | None = None,
                 cprofile_out: Path | None = None, config: str = "imagenet2012") -> list[str]:
    args = ["--child", "builder", "--data-dir", str(data_dir), "--scratch", str(cache_dir)]
    for flag, value in (("--config", config), ("--num-proc", num_proc), ("--writer-batch-size", writer_batch_size), ("--cprofile-out", cprofile_out)):
        if value:
            args += [flag, str(value)]
    return args


def write_args(scratch: Path, nbytes: int, procs: int) -> list[str]:
    return ["--child", "write", "--scratch", str(scratch), "--bytes", str(nbytes), "--procs", str(procs)]


def pi_args(which: str, pi_dir: Path) -> list[str]:
    return ["--child", which, "--pi-dir", str(pi_dir)]


def child_env() -> dict:
    env = dict(os.environ)
    env.update(
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    return env


def run_child(child_args: list[str], work: Path, wrapper: list[str] | None = None) -> dict:
    """Run this file with ``child_args`` in a fresh interpreter (under ``wrapper``, e.g. py-spy); its result + peak RSS and CPU time."""
    out = work / f"child-{time.monotonic_ns()}.json"
    cmd = [*(wrapper or []), sys.executable, str(Path(__file__).resolve()), *child_args, "--child-out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=child_env(), cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"child {' '.join(child_args)} failed with exit code {proc.returncode}")
    result = json.loads(out.read_text())
    out.unlink()
    # Peak RSS of the largest single process of the run: the child's own VmHWM, or its largest
    # reaped pool worker. Not ru_maxrss of wait4 alone: Linux carries the parent's high-water mark
    # into a vfork/fork+exec child, so that figure is never below this orchestrator's RSS.
    result["peak_rss_mib"] = max(result["self_peak_rss_mib"] or usage.ru_maxrss / 1024, result["workers_peak_rss_mib"])
    result["wait4_maxrss_mib"] = usage.ru_maxrss / 1024
    # CPU time of the child and its reaped workers: cpu / wall near 1 (or num_proc) means CPU-bound.
    result["cpu_user_seconds"], result["cpu_sys_seconds"] = usage.ru_utime, usage.ru_stime
    result["wall_seconds"] = wall
    return result


if __name__ == "__main__":
    child_main()
