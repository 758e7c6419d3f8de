"""Preparation benchmark: the ``imagenet2012`` builder against a plain-Python floor, on a fake ImageNet.

Run from the repository root (not part of the test suite; ~5 minutes on 2 cores, ~7 with --profile):

    python benchmarks/bench_prepare.py                       # default + large size, PI parse, 2 repeats
    python benchmarks/bench_prepare.py --images 4000 --classes 4 --val 400 --skip-large --skip-pi --repeat 1   # smoke run
    python benchmarks/bench_prepare.py --profile             # + where the single-process builder spends its time

What it does (benchmarks/README.md explains every figure):

1. Writes a fake ILSVRC-2012 in a temp dir with the real layout and realistic JPEGs (~500x375 px,
   ~100 KB each, a pool of distinct images reused): ``ILSVRC2012_img_train.tar`` (a tar of per-class
   ``<wnid>.tar`` holding ``<wnid>_<n>.JPEG``), ``ILSVRC2012_img_val.tar`` (flat,
   ``ILSVRC2012_val_%08d.JPEG``), ``imagenet2012_labels.txt`` (1000 sorted fake WNIDs) and
   ``imagenet2012_validation_labels.txt`` (50,000 lines). Two sizes: ``--images`` train images and
   ``--large-factor`` times as many (more classes of the same size).
2. Runs each measurement in a fresh subprocess (peak RSS per run from ``os.wait4``; the child also
   reports its own VmHWM and that of its pool workers): the floor (tarfile streams every image out
   of the nested train tar and the val tar into one file, then fsync), the builder with one process
   and with ``num_proc=2``. The floor runs once first as a warm-up, so the tarballs are in the page
   cache for every measurement; timings are the best of ``--repeat`` runs.
3. Times ``parsers.read_pi`` on a synthetic 1,281,167-row ImageNet-PI labels + confidences pair
   (cached in ``--pi-dir``) against a ``csv``-module baseline.
4. Prints a table with PASS/FAIL against the targets and writes it all as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "results" / "prepare.json"

NUM_CLASSES, NUM_VALIDATION, NUM_ANNOTATORS = 1000, 50_000, 16
PI_TRAIN_ROWS = 1_281_167  # rows of ImageNet-PI {low,high}_noise/{labels,confidences}/train.csv
WNIDS = [f"n{1440764 + 9973 * i:08d}" for i in range(NUM_CLASSES)]  # sorted, real format
DATA_FORMAT_VERSION = 1  # bump when the generated data changes, so cached copies are rebuilt
PI_FORMAT_VERSION = 1

# Targets (benchmarks/README.md).
TARGET_SINGLE_VS_FLOOR = 0.9
TARGET_NUM_PROC2_SCALING = 1.7
TARGET_PEAK_RSS_MIB = 1024
# "Flat": the large size's peak RSS exceeds the default size's by at most 10 % or 32 MiB, whichever
# is more (allocator caches make the peak wobble by ~20 MiB between runs of the same size).
TARGET_RSS_FLAT, TARGET_RSS_FLAT_MIB = 1.10, 32
TARGET_ARROW_OVERHEAD = 1.02
TARGET_PI_SPEEDUP = 5.0


# --------------------------------------------------------------------------------------------
# Fake ImageNet
# --------------------------------------------------------------------------------------------


def make_jpeg_pool(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct 500x375 RGB JPEGs of ~100 KB: smooth colour gradients + waves + noise, quality 90."""
    import numpy as np
    from PIL import Image

    pool = []
    h, w = 375, 500
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(count):
        r = np.random.default_rng(seed + i)
        c = r.uniform(0, 255, (3, 3))
        period = r.uniform(20, 80)
        base = np.stack([c[k, 0] + (c[k, 1] - c[k, 0]) * x / w + (c[k, 2] - 128) * 0.5 * np.sin(y / period + k) for k in range(3)], -1)
        base += r.normal(0, r.uniform(20, 27), base.shape)  # noise sets the size: ~100 KB at quality 90
        out = io.BytesIO()
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(out, format="JPEG", quality=90)
        pool.append(out.getvalue())
    return pool


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_338_000_000
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def make_fake_imagenet(root: Path, n_train: int, n_classes: int, n_val: int, pool: list[bytes], seed: int = 0) -> dict:
    """Write the four files the ``imagenet2012`` config reads for train + validation; returns a manifest."""
    manifest_path = root / "manifest.json"
    want = {"version": DATA_FORMAT_VERSION, "n_train": n_train, "n_classes": n_classes, "n_val": n_val, "pool": len(pool), "seed": seed}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in want} == want:
            return manifest  # reuse data written by an earlier run with --workdir/--keep
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    (root / "imagenet2012_labels.txt").write_text("\n".join(WNIDS) + "\n")
    classes = [WNIDS[round(i * (NUM_CLASSES - 1) / max(1, n_classes - 1))] for i in range(n_classes)]
    val_wnids = [classes[rng.randrange(n_classes)] for _ in range(NUM_VALIDATION)]
    (root / "imagenet2012_validation_labels.txt").write_text("\n".join(val_wnids) + "\n")

    image_bytes = 0
    per_class = [n_train // n_classes + (1 if c < n_train % n_classes else 0) for c in range(n_classes)]
    with tarfile.open(root / "ILSVRC2012_img_train.tar", "w", format=tarfile.USTAR_FORMAT) as outer:
        for wnid, count in zip(classes, per_class):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as inner:
                for n in rng.sample(range(1, 60_000), count):  # real numbering: not contiguous, not sorted
                    data = pool[rng.randrange(len(pool))]
                    _add(inner, f"{wnid}_{n}.JPEG", data)
                    image_bytes += len(data)
            _add(outer, f"{wnid}.tar", buf.getvalue())
            del buf
    with tarfile.open(root / "ILSVRC2012_img_val.tar", "w", format=tarfile.USTAR_FORMAT) as val:
        for i in range(1, n_val + 1):
            data = pool[rng.randrange(len(pool))]
            _add(val, f"ILSVRC2012_val_{i:08d}.JPEG", data)
            image_bytes += len(data)
    manifest = {
        **want,
        "images": n_train + n_val,
        "image_bytes": image_bytes,
        "mean_image_kb": round(image_bytes / (n_train + n_val) / 1000, 1),
        "train_tar_bytes": (root / "ILSVRC2012_img_train.tar").stat().st_size,
        "val_tar_bytes": (root / "ILSVRC2012_img_val.tar").stat().st_size,
        "generate_seconds": round(time.perf_counter() - t0, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def make_pi_csvs(pi_dir: Path, rows: int = PI_TRAIN_ROWS, decimals: int | None = None, seed: int = 0) -> dict:
    """Synthetic ImageNet-PI train CSVs, written once and reused while their manifest matches.

    Labels: ``n01440764_10026.JPEG,165,196,...`` (16 ints in 0..999). Confidences: file name + 16
    floats in [0, 1]. With ``decimals=None`` the floats are written as Python's shortest repr
    (``0.8444218515250481``, ``3.1e-05``), like the real files, which then weigh ~450 MB as the
    real ones (439-463 MB); ``decimals=6`` gives ``0.844422`` (~230 MB).
    """
    import numpy as np

    manifest_path = pi_dir / "manifest.json"
    want = {"version": PI_FORMAT_VERSION, "rows": rows, "decimals": decimals, "seed": seed}
    labels, confidences = pi_dir / "labels_train.csv", pi_dir / "confidences_train.csv"
    if manifest_path.exists() and labels.exists() and confidences.exists():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in want} == want:
            return manifest
    pi_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    per_class = rows // NUM_CLASSES + 1
    label_text = [str(i) for i in range(NUM_CLASSES)]
    chunk = 100_000
    with open(labels, "w") as fl, open(confidences, "w") as fc:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            idx = np.arange(start, start + n)
            names = [f"{WNIDS[i // per_class]}_{1 + (i % per_class) * 37}.JPEG" for i in idx.tolist()]
            lab = rng.integers(0, NUM_CLASSES, size=(n, NUM_ANNOTATORS)).tolist()
            # Softmax-like confidences: many near 1, some tiny (exponent notation in repr).
            conf = rng.beta(0.6, 0.4, size=(n, NUM_ANNOTATORS))
            conf[rng.random((n, NUM_ANNOTATORS)) < 0.05] *= 1e-4
            conf = conf.round(decimals).tolist() if decimals is not None else conf.tolist()
            fmt = (lambda v: f"{v:.{decimals}f}") if decimals is not None else repr
            fl.write("".join(name + "," + ",".join(label_text[v] for v in row) + "\n" for name, row in zip(names, lab)))
            fc.write("".join(name + "," + ",".join(map(fmt, row)) + "\n" for name, row in zip(names, conf)))
    manifest = {
        **want,
        "labels_bytes": labels.stat().st_size,
        "confidences_bytes": confidences.stat().st_size,
        "generate_seconds": round(time.perf_counter() - t0, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


# --------------------------------------------------------------------------------------------
# Children: one measurement each, in a fresh interpreter
# --------------------------------------------------------------------------------------------


def _vmhwm_mib() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _children_maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def child_floor(data_dir: Path, out_file: Path) -> dict:
    """Plain Python: every image streamed out of the nested train tar and the val tar, appended to one file."""
    t0 = time.perf_counter()
    images = nbytes = 0
    with open(out_file, "wb") as out:
        with tarfile.open(data_dir / "ILSVRC2012_img_train.tar", mode="r|") as outer:
            for member in outer:
                if not member.isfile():
                    continue
                with tarfile.open(fileobj=outer.extractfile(member), mode="r|") as inner:
                    for info in inner:
                        if info.isfile():
                            data = inner.extractfile(info).read()
                            out.write(data)
                            images += 1
                            nbytes += len(data)
        with tarfile.open(data_dir / "ILSVRC2012_img_val.tar", mode="r|") as val:
            for info in val:
                if info.isfile():
                    data = val.extractfile(info).read()
                    out.write(data)
                    images += 1
                    nbytes += len(data)
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


def child_builder(data_dir: Path, cache_dir: Path, num_proc: int | None, cprofile_out: str | None, writer_batch_size: int | None = None) -> dict:
    """``builder("imagenet2012", ...).download_and_prepare(num_proc=...)`` timed; the Arrow output is fsynced after."""
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
    b = builder("imagenet2012", data_dir=data_dir, cache_dir=cache_dir, **extra)
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


def csv_baseline(labels_path: str, confidences_path: str) -> tuple[dict, dict]:
    """What one would write with the csv module: name -> 16 ints in 0..999, name -> 16 floats in [0, 1]."""
    labels: dict[str, list[int]] = {}
    with open(labels_path, newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            values = [int(v) for v in row[1:]]
            if len(values) != NUM_ANNOTATORS or not all(0 <= v < NUM_CLASSES for v in values):
                raise ValueError(f"{labels_path}, line {line}: bad row {row!r}")
            labels[row[0]] = values
    confidences: dict[str, list[float]] = {}
    with open(confidences_path, newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            values = [float(v) for v in row[1:]]
            if len(values) != NUM_ANNOTATORS or not all(0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"{confidences_path}, line {line}: bad row {row!r}")
            confidences[row[0]] = values
    if labels.keys() != confidences.keys():
        raise ValueError("the two files list different images")
    return labels, confidences


def child_pi(pi_dir: Path, which: str) -> dict:
    labels, confidences = str(pi_dir / "labels_train.csv"), str(pi_dir / "confidences_train.csv")
    if which == "read_pi":
        from imagenet_variants_lib import parsers

        t0 = time.perf_counter()
        rows = parsers.read_pi(labels, confidences).num_rows
    else:
        t0 = time.perf_counter()
        rows = len(csv_baseline(labels, confidences)[0])
    return {"seconds": time.perf_counter() - t0, "rows": rows}


def run_child_main(args: argparse.Namespace) -> None:
    if args.child == "floor":
        result = child_floor(Path(args.data_dir), Path(args.scratch))
    elif args.child == "builder":
        result = child_builder(Path(args.data_dir), Path(args.scratch), args.child_num_proc, args.cprofile_out, args.writer_batch_size)
    else:
        result = child_pi(Path(args.pi_dir), args.child)
    result["self_peak_rss_mib"] = _vmhwm_mib()
    result["workers_peak_rss_mib"] = _children_maxrss_mib()  # num_proc workers (0 without)
    Path(args.child_out).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# Parent: orchestration
# --------------------------------------------------------------------------------------------


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
    """Run this script as ``--child ...`` in a fresh interpreter; its result + the peak RSS of its process tree."""
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


WRITER_BATCH_SIZE: list[int | None] = [None]  # --writer-batch-size, for the builder children


def mem_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def evict_from_page_cache(data_dir: Path) -> None:
    """Drop the clean cached pages of this size's tarballs (only these files), so they do not crowd the next size's."""
    for path in data_dir.glob("*.tar"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(kind: str, data_dir: Path, work: Path, repeat: int, num_proc: int | None = None) -> dict:
    runs = []
    for _ in range(repeat):
        scratch = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=work))
        try:
            if kind == "floor":
                args = ["--child", "floor", "--data-dir", str(data_dir), "--scratch", str(scratch / "floor.out")]
            else:
                args = ["--child", "builder", "--data-dir", str(data_dir), "--scratch", str(scratch)]
                if num_proc:
                    args += ["--child-num-proc", str(num_proc)]
            if WRITER_BATCH_SIZE[0] and kind == "builder":
                args += ["--writer-batch-size", str(WRITER_BATCH_SIZE[0])]
            runs.append(run_child(args, work))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print(f"    {kind}{'' if not num_proc else f' num_proc={num_proc}'}: {runs[-1]['seconds']:.2f} s, "
              f"peak RSS {runs[-1]['peak_rss_mib']:.0f} MiB", flush=True)
    best = min(runs, key=lambda r: r["seconds"])
    summary = {
        "seconds": [round(r["seconds"], 3) for r in runs],
        "best_seconds": round(best["seconds"], 3),
        "images": best["images"],
        "images_per_s": round(best["images"] / best["seconds"], 1),
        "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        "main_peak_rss_mib": round(max(r["self_peak_rss_mib"] or 0 for r in runs), 1),
        # of the whole child (imports and setup included), for the best run
        "cpu_user_seconds": round(best["cpu_user_seconds"], 2),
        "cpu_sys_seconds": round(best["cpu_sys_seconds"], 2),
    }
    if kind == "builder":
        summary.update(
            prepare_seconds=round(best["prepare_seconds"], 3),
            fsync_seconds=round(best["fsync_seconds"], 3),
            import_seconds=round(best["import_seconds"], 3),
            splits=best["splits"],
            arrow_bytes=best["arrow_bytes"],
            arrow_files=best["arrow_files"],
            datasets_version=best["datasets_version"],
        )
        if num_proc and num_proc > 1:
            summary["workers_peak_rss_mib"] = round(max(r["workers_peak_rss_mib"] or 0 for r in runs), 1)
    return summary


def measure_size(label: str, manifest: dict, data_dir: Path, work: Path, repeat: int, num_proc: int) -> dict:
    print(f"[{label}] {manifest['images']} images ({manifest['n_train']} train in {manifest['n_classes']} classes + "
          f"{manifest['n_val']} val), {manifest['image_bytes'] / 2**30:.2f} GiB of JPEG, mean {manifest['mean_image_kb']} KB", flush=True)
    tar_bytes = manifest["train_tar_bytes"] + manifest["val_tar_bytes"]
    available = mem_available_bytes()
    # The tarballs and one run's Arrow output should fit in the page cache together.
    fits = available is None or 2 * tar_bytes < 0.9 * available
    if not fits:
        print(f"    WARNING: tarballs + Arrow output ({2 * tar_bytes / 2**30:.1f} GiB) do not fit in the page cache "
              f"({available / 2**30:.1f} GiB available): reads will hit the disk; use fewer --images", flush=True)
    print("    warm-up (floor, not counted)", flush=True)
    measure("floor", data_dir, work, 1)
    # Interleaved, so that a slow phase of the machine hits every kind alike; best of ``repeat``.
    # The two builder runs swap places every round: on the project's VMs the first run that
    # touches a lot of fresh memory after the (small) floor pays extra system time.
    per_kind = {"floor": [], "single": [], "multi": []}
    for round_ in range(repeat):
        per_kind["floor"].append(measure("floor", data_dir, work, 1))
        for kind in (("single", "multi") if round_ % 2 == 0 else ("multi", "single")):
            per_kind[kind].append(measure("builder", data_dir, work, 1, num_proc=num_proc if kind == "multi" else None))

    def merge(items: list[dict]) -> dict:
        best = min(items, key=lambda s: s["best_seconds"])
        out = dict(best)
        out["seconds"] = [s["best_seconds"] for s in items]
        out["peak_rss_mib"] = max(s["peak_rss_mib"] for s in items)
        out["main_peak_rss_mib"] = max(s["main_peak_rss_mib"] for s in items)
        if "workers_peak_rss_mib" in best:
            out["workers_peak_rss_mib"] = max(s["workers_peak_rss_mib"] for s in items)
        return out

    result = {
        "data": manifest,
        "page_cache_fits": fits,
        "mem_available_gib_before": round(available / 2**30, 1) if available else None,
        "floor": merge(per_kind["floor"]),
        "builder_single": merge(per_kind["single"]),
        f"builder_num_proc{num_proc}": merge(per_kind["multi"]),
    }
    expected = manifest["images"]
    for key in ("floor", "builder_single", f"builder_num_proc{num_proc}"):
        if result[key]["images"] != expected:
            raise RuntimeError(f"{label}: {key} saw {result[key]['images']} images, expected {expected}")
    return result


def measure_pi(pi_dir: Path, work: Path, repeat: int, decimals: int | None) -> dict:
    manifest = make_pi_csvs(pi_dir, decimals=decimals)
    print(f"[pi] {manifest['rows']} rows: labels {manifest['labels_bytes'] / 1e6:.0f} MB, confidences "
          f"{manifest['confidences_bytes'] / 1e6:.0f} MB (generated in {manifest['generate_seconds']} s, cached in {pi_dir})", flush=True)
    out = {"data": manifest}
    for which in ("read_pi", "csv_baseline"):
        runs = []
        for _ in range(repeat):
            runs.append(run_child(["--child", which, "--pi-dir", str(pi_dir)], work))
            print(f"    {which}: {runs[-1]['seconds']:.2f} s, peak RSS {runs[-1]['peak_rss_mib']:.0f} MiB", flush=True)
        if any(r["rows"] != manifest["rows"] for r in runs):
            raise RuntimeError(f"{which} read {runs[0]['rows']} rows, expected {manifest['rows']}")
        out[which] = {
            "seconds": [round(r["seconds"], 3) for r in runs],
            "best_seconds": round(min(r["seconds"] for r in runs), 3),
            "rows_per_s": round(manifest["rows"] / min(r["seconds"] for r in runs)),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        }
    out["speedup"] = round(out["csv_baseline"]["best_seconds"] / out["read_pi"]["best_seconds"], 2)
    return out


# --------------------------------------------------------------------------------------------
# Profile: where the single-process builder spends its time
# --------------------------------------------------------------------------------------------

# (path fragment, function names or None for any, category); the innermost matching frame of a
# sample (py-spy) or the function itself (cProfile) decides. Order matters: first match wins.
CATEGORIES = [
    ("imagenet_variants_lib/images.py", None, "ours: image header check (images.py)"),
    ("imagenet_variants_lib/archives.py", {"read", "readinto"}, "ours: _Window.read (train-tar reads)"),
    ("imagenet_variants_lib/archives.py", {"walk"}, "ours: archive walk (incl. val-tar reads)"),
    ("imagenet_variants_lib/archives.py", None, "ours: archive index/iteration"),
    ("imagenet_variants_lib/join.py", None, "ours: join.generate / plan"),
    ("imagenet_variants.py", None, "ours: builder class"),
    ("/tarfile.py", None, "tarfile (headers, extractfile)"),
    ("datasets/keyhash.py", None, "datasets: key hashing + duplicate checks"),
    ("datasets/arrow_writer.py", {"check_duplicate_keys"}, "datasets: key hashing + duplicate checks"),
    ("datasets/features/", None, "datasets: encode_example"),
    ("datasets/arrow_writer.py", {"write"}, "datasets: ArrowWriter.write (append)"),
    ("datasets/arrow_writer.py", {"write_examples_on_file"}, "datasets: write_examples_on_file (rows -> columns)"),
    ("datasets/arrow_writer.py", None, "datasets: ArrowWriter batch -> Arrow -> file"),
    ("datasets/table.py", None, "datasets: ArrowWriter batch -> Arrow -> file"),
    ("pyarrow/", None, "datasets: ArrowWriter batch -> Arrow -> file"),
    ("datasets/builder.py", {"_prepare_split_single"}, "datasets: builder loop (_prepare_split_single)"),
    ("fsspec/", None, "datasets: ArrowWriter batch -> Arrow -> file"),
    ("multiprocess", None, "multiprocessing / pickling"),
    ("dill/", None, "multiprocessing / pickling"),
    ("tqdm", None, "progress bar"),
    ("bench_prepare.py", {"_fsync_tree"}, "fsync of the Arrow output"),
    ("bench_prepare.py", {"child_floor"}, "floor: loop, out.write, fsync"),
]
OTHER = "other (imports, setup, planning, info, rename)"


def _category(path: str, func: str) -> str | None:
    for fragment, funcs, category in CATEGORIES:
        if fragment in path and (funcs is None or func in funcs):
            return category
    return None


def _parse_frame(frame: str) -> tuple[str, str, str]:
    """py-spy raw frame ``func (path:line)`` -> (func, path, line)."""
    func, _, where = frame.rpartition(" (")
    path, _, line = where.rstrip(")").rpartition(":")
    return func.rpartition(".")[2], path, line  # py-spy qualifies methods: ArrowWriter.write -> write


PY_SPY_RATE = 200  # samples per second


def analyse_pyspy(raw_file: Path, images: int, top: int = 25) -> dict:
    """py-spy samples of the main threads by category (innermost known frame), inclusive totals, top leaf lines.

    With ``num_proc`` the builder's process and its pool workers are reported apart. Figures are
    seconds (samples / rate) and microseconds per image of the run.
    """
    markers = {
        "_generate_examples (ours, incl. tar reads)": ("imagenet_variants.py", "_generate_examples"),
        "encode_example (datasets)": ("datasets/features/features.py", "encode_example"),
        "ArrowWriter.write (datasets)": ("datasets/arrow_writer.py", "write"),
        "ArrowWriter.write_examples_on_file (datasets)": ("datasets/arrow_writer.py", "write_examples_on_file"),
        "ArrowWriter._write_table (datasets, Arrow IPC -> file)": ("datasets/arrow_writer.py", "_write_table"),
        "ArrowWriter.finalize (datasets)": ("datasets/arrow_writer.py", "finalize"),
        "_prepare_split_single (datasets, whole split loop)": ("datasets/builder.py", "_prepare_split_single"),
        "join.plan (ours, before writing)": ("imagenet_variants_lib/join.py", "plan"),
        "normalize_image (ours)": ("imagenet_variants_lib/images.py", "normalize_image"),
        "tarfile (anywhere below)": ("/tarfile.py", None),
    }
    roles: dict[str, dict[str, collections.Counter]] = {}
    for line in raw_file.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parts = stack.split(";")
        # Main threads only (the builder's process and each pool worker): the other threads of
        # datasets/multiprocess (tqdm monitor, pool handlers, rename thread pool) mostly sleep.
        threads = [p for p in parts if p.startswith("thread (")]
        if threads and not threads[0].endswith("MainThread"):
            continue
        frames = [_parse_frame(f) for f in parts if f and not f.startswith("process ") and not f.startswith("thread (")]
        funcs = {f for f, _, _ in frames}
        if sum(p.startswith("process ") for p in parts) <= 1:
            role = "main process"
        elif "serve_forever" in funcs or "_run_server" in funcs:
            role = "manager process"  # the SyncManager behind datasets' progress queue: idle
        else:
            role = "pool workers"
        counters = roles.setdefault(role, {"categories": collections.Counter(), "inclusive": collections.Counter(), "leaves": collections.Counter()})
        n = int(count)
        category = OTHER
        for func, path, _ in reversed(frames):
            found = _category(path, func)
            if found:
                category = found
                break
        if category == "multiprocessing / pickling":
            if role == "main process":
                category = "multiprocessing: waiting for the workers, pickling"
            elif "_callmethod" in funcs:
                category = "multiprocessing: round trips to the Manager queue (progress, results)"
            elif "worker" in funcs and "get" in funcs:
                category = "multiprocessing: worker idle, waiting for a job"
        counters["categories"][category] += n
        if frames:
            func, path, lineno = frames[-1]
            counters["leaves"][f"{func} ({'/'.join(Path(path).parts[-2:])}:{lineno})"] += n
        for name, (fragment, func_name) in markers.items():
            if any(fragment in p and (func_name is None or f == func_name) for f, p, _ in frames):
                counters["inclusive"][name] += n

    def figures(counter: collections.Counter, keys=None) -> dict:
        items = counter.most_common() if keys is None else [(k, counter[k]) for k in keys]
        return {k: {"s": round(v / PY_SPY_RATE, 2), "us_per_image": round(1e6 * v / PY_SPY_RATE / images)} for k, v in items}

    out = {}
    for role, c in sorted(roles.items()):
        out[role] = {
            "seconds": round(sum(c["categories"].values()) / PY_SPY_RATE, 2),
            "self_by_category": figures(c["categories"]),
            "inclusive": figures(c["inclusive"], markers),
            "top_leaf_lines": figures(collections.Counter(dict(c["leaves"].most_common(top)))),
        }
    return out


def analyse_cprofile(stats_file: Path, images: int, top: int = 25) -> dict:
    """cProfile self time by category; a C function's time goes to the category of its callers (pro rata).

    cProfile inflates Python-heavy code (every call is timed): use it for call counts and the
    py-spy figures for shares.
    """
    import pstats

    stats = pstats.Stats(str(stats_file))
    raw = stats.stats  # (file, line, func) -> (cc, nc, tt, ct, callers)
    categories: collections.Counter = collections.Counter()

    def own_category(key) -> str | None:
        path, _, func = key
        if path == "~":  # built-in: no file
            return None
        return _category(path, func) or OTHER

    for key, (_, _, tt, _, callers) in raw.items():
        cat = own_category(key)
        if cat is not None:
            categories[cat] += tt
            continue
        # Built-ins (file read, seek, pa.array, ...): split among callers by the time spent for each.
        total_caller_tt = sum(v[2] for v in callers.values()) or 1.0
        for caller, v in callers.items():
            categories[own_category(caller) or OTHER] += tt * v[2] / total_caller_tt
    by_tottime = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return {
        "main process": {
            "seconds": round(sum(categories.values()), 2),
            "self_by_category": {k: {"s": round(v, 2), "us_per_image": round(1e6 * v / images)} for k, v in categories.most_common()},
            "top_functions": [
                {"function": f"{Path(k[0]).name}:{k[1]}({k[2]})", "calls": v[1], "tottime_s": round(v[2], 3), "cumtime_s": round(v[3], 3)}
                for k, v in by_tottime
            ],
        }
    }


def run_profiles(data_dir: Path, work: Path, py_spy: str | None, num_proc: int) -> dict:
    out: dict = {}
    scratch = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
    try:
        print("[profile] warm-up (floor, not counted)", flush=True)
        measure("floor", data_dir, work, 1)
        stats_file = work / "builder.pstats"
        print("[profile] cProfile, builder single process", flush=True)
        r = run_child(["--child", "builder", "--data-dir", str(data_dir), "--scratch", str(scratch / "c"), "--cprofile-out", str(stats_file)], work)
        out["cprofile_single"] = {"seconds_under_profiler": round(r["seconds"], 2), **analyse_cprofile(stats_file, r["images"])}
        if py_spy:
            raw = work / "py_spy_floor.txt"
            print("[profile] py-spy, floor", flush=True)
            wrapper = [py_spy, "record", "--idle", "--threads", "--rate", str(PY_SPY_RATE), "--format", "raw", "--full-filenames", "--output", str(raw), "--"]
            r = run_child(["--child", "floor", "--data-dir", str(data_dir), "--scratch", str(scratch / "floor.out")], work, wrapper=wrapper)
            out["py_spy_floor"] = {"seconds_under_profiler": round(r["seconds"], 2), **analyse_pyspy(raw, r["images"])}
            for label, extra, np_ in (("py_spy_single", [], None), (f"py_spy_num_proc{num_proc}", ["--subprocesses"], num_proc)):
                raw = work / f"{label}.txt"
                print(f"[profile] py-spy, builder {'single process' if np_ is None else f'num_proc={np_}'}", flush=True)
                args = ["--child", "builder", "--data-dir", str(data_dir), "--scratch", str(scratch / label)]
                if np_:
                    args += ["--child-num-proc", str(np_)]
                if WRITER_BATCH_SIZE[0]:
                    args += ["--writer-batch-size", str(WRITER_BATCH_SIZE[0])]
                wrapper = [py_spy, "record", "--idle", "--threads", "--rate", str(PY_SPY_RATE), "--format", "raw", "--full-filenames", "--output", str(raw), *extra, "--"]
                r = run_child(args, work, wrapper=wrapper)
                out[label] = {"seconds_under_profiler": round(r["seconds"], 2), **analyse_pyspy(raw, r["images"])}
        else:
            out["py_spy"] = "not found: pip install py-spy (or pass --py-spy PATH) for an unbiased sampling profile"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "datasets": v("datasets"),
        "pyarrow": v("pyarrow"),
        "pillow": v("pillow"),
        "numpy": v("numpy"),
    }


def checks(result: dict, num_proc: int) -> list[dict]:
    out = []

    def add(name: str, value: float, target: str, ok: bool, unit: str = "") -> None:
        out.append({"name": name, "value": round(value, 3), "unit": unit, "target": target, "pass": bool(ok)})

    multi = f"builder_num_proc{num_proc}"
    sizes = [s for s in ("default", "large") if s in result["sizes"]]
    for size in sizes:
        r = result["sizes"][size]
        ratio = r["builder_single"]["images_per_s"] / r["floor"]["images_per_s"]
        add(f"builder_single / floor ({size})", ratio, f">= {TARGET_SINGLE_VS_FLOOR}", ratio >= TARGET_SINGLE_VS_FLOOR)
    for size in sizes:
        r = result["sizes"][size]
        ratio = r[multi]["images_per_s"] / r["builder_single"]["images_per_s"]
        add(f"num_proc={num_proc} / single ({size})", ratio, f">= {TARGET_NUM_PROC2_SCALING}", ratio >= TARGET_NUM_PROC2_SCALING)
    for size in sizes:
        for kind in ("builder_single", multi):
            rss = result["sizes"][size][kind]["peak_rss_mib"]
            add(f"peak RSS {kind} ({size})", rss, f"< {TARGET_PEAK_RSS_MIB} MiB", rss < TARGET_PEAK_RSS_MIB, "MiB")
    if len(sizes) == 2:
        for kind in ("builder_single", multi):
            small, large = result["sizes"]["default"][kind]["peak_rss_mib"], result["sizes"]["large"][kind]["peak_rss_mib"]
            ok = large <= max(small * TARGET_RSS_FLAT, small + TARGET_RSS_FLAT_MIB)
            add(f"peak RSS large / default ({kind})", large / small, f"<= {TARGET_RSS_FLAT} or +{TARGET_RSS_FLAT_MIB} MiB", ok)
    r = result["sizes"]["default"]
    overhead = r["builder_single"]["arrow_bytes"] / r["data"]["image_bytes"]
    add("Arrow bytes / image bytes", overhead, f"<= {TARGET_ARROW_OVERHEAD}", overhead <= TARGET_ARROW_OVERHEAD)
    if "pi" in result:
        add("read_pi speed-up vs csv module", result["pi"]["speedup"], f">= {TARGET_PI_SPEEDUP}", result["pi"]["speedup"] >= TARGET_PI_SPEEDUP, "x")
    return out


def print_report(result: dict, num_proc: int) -> None:
    multi = f"builder_num_proc{num_proc}"
    print()
    print(f"{'run':<28}{'size':>8}{'images':>9}{'best s':>9}{'images/s':>10}{'MB/s':>8}{'CPU s':>8}{'peak RSS MiB':>14}")
    for size, r in result["sizes"].items():
        for kind in ("floor", "builder_single", multi):
            k = r[kind]
            mbps = r["data"]["image_bytes"] / k["best_seconds"] / 1e6
            cpu = k["cpu_user_seconds"] + k["cpu_sys_seconds"]
            print(f"{kind:<28}{size:>8}{k['images']:>9}{k['best_seconds']:>9.2f}{k['images_per_s']:>10.0f}{mbps:>8.0f}{cpu:>8.1f}{k['peak_rss_mib']:>14.0f}")
    if "pi" in result:
        for which in ("read_pi", "csv_baseline"):
            k = result["pi"][which]
            print(f"{'PI ' + which:<28}{'1.28M':>8}{result['pi']['data']['rows']:>9}{k['best_seconds']:>9.2f}{k['rows_per_s']:>10.0f}{'':>8}{'':>8}{k['peak_rss_mib']:>14.0f}  (rows/s)")
    print()
    print(f"{'check':<44}{'value':>10}  {'target':<22}result")
    for c in result["checks"]:
        print(f"{c['name']:<44}{c['value']:>10.3f}  {c['target']:<22}{'PASS' if c['pass'] else 'FAIL'}")


def print_profile(profile: dict, floor: dict | None = None) -> None:
    if floor:
        print(f"\n[profile] floor for comparison: {1e6 * floor['best_seconds'] / floor['images']:.0f} us/image in all")
    for label, p in profile.items():
        if not isinstance(p, dict):
            print(f"[profile] {label}: {p}")
            continue
        print(f"\n[profile] {label} ({p.get('seconds_under_profiler')} s under the profiler)")
        for role in ("main process", "pool workers", "manager process"):
            if role not in p:
                continue
            r = p[role]
            print(f"  {role}: {r['seconds']} s of main-thread samples{' (all workers together)' if role == 'pool workers' else ''}")
            if role == "manager process":
                continue
            for name, v in r["self_by_category"].items():
                print(f"    {v['s']:8.2f} s {v['us_per_image']:6d} us/image  {name}")
            if "inclusive" in r:
                print("    inclusive:")
                for name, v in r["inclusive"].items():
                    print(f"    {v['s']:8.2f} s {v['us_per_image']:6d} us/image  {name}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=40_000, help="train images of the default size (default 40000, ~4 GB)")
    ap.add_argument("--classes", type=int, default=40, help="train classes (inner tars) of the default size (default 40)")
    ap.add_argument("--val", type=int, default=4_000, help="validation images of the default size (default 4000, at most 50000 / --large-factor)")
    ap.add_argument("--large-factor", type=int, default=2, help="the large size has this many times the images and classes (default 2)")
    ap.add_argument("--skip-large", action="store_true", help="measure the default size only (no RSS flatness check)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best time is reported (default 2)")
    ap.add_argument("--num-proc", type=int, default=2, help="num_proc of the parallel builder run (default 2)")
    ap.add_argument("--pool", type=int, default=50, help="distinct JPEGs generated and reused (default 50)")
    ap.add_argument("--skip-pi", action="store_true", help="skip the ImageNet-PI CSV parse benchmark")
    ap.add_argument("--pi-dir", default="/tmp/bench-pi", help="where the synthetic PI CSVs are cached (default /tmp/bench-pi)")
    ap.add_argument("--pi-decimals", type=int, default=None, help="decimals of the PI confidences (default: shortest repr, ~450 MB as the real file)")
    ap.add_argument("--profile", action="store_true", help="also profile the single-process builder (cProfile; py-spy too if found)")
    ap.add_argument("--writer-batch-size", type=int, default=None,
                    help="experiment: pass writer_batch_size=N to the builder (datasets' default for images: 100 rows per record batch)")
    ap.add_argument("--py-spy", default=None, help="path of py-spy (default: found on PATH)")
    ap.add_argument("--workdir", default=None, help="where to write the fake ImageNet (default: a new /tmp/bench-prepare-* dir)")
    ap.add_argument("--keep", action="store_true", help="keep --workdir (the data is reused by a later run with the same --workdir)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"JSON report (default {DEFAULT_OUT.relative_to(REPO)})")
    # Internal: one measurement in a fresh interpreter.
    ap.add_argument("--child", choices=["floor", "builder", "read_pi", "csv_baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--scratch", help=argparse.SUPPRESS)
    ap.add_argument("--cprofile-out", help=argparse.SUPPRESS)
    ap.add_argument("--child-num-proc", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        run_child_main(args)
        return 0

    WRITER_BATCH_SIZE[0] = args.writer_batch_size
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-prepare-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    result: dict = {"machine": machine_info(), "settings": {k: getattr(args, k) for k in ("images", "classes", "val", "large_factor", "repeat", "num_proc", "pool", "pi_decimals", "writer_batch_size")}, "sizes": {}}
    print(f"machine: {result['machine']['platform']}, {result['machine']['cpu_count']} CPUs, Python {result['machine']['python']}, "
          f"datasets {result['machine']['datasets']}; work dir {work}", flush=True)
    try:
        t0 = time.perf_counter()
        pool = make_jpeg_pool(args.pool)
        print(f"JPEG pool: {len(pool)} images, mean {sum(map(len, pool)) / len(pool) / 1000:.0f} KB ({time.perf_counter() - t0:.1f} s)", flush=True)
        sizes = {"default": 1} if args.skip_large else {"default": 1, "large": args.large_factor}
        for label, factor in sizes.items():
            data_dir = work / f"data-{label}"
            manifest = make_fake_imagenet(data_dir, args.images * factor, args.classes * factor, args.val * factor, pool)
            print(f"[{label}] data in {data_dir} (written in {manifest['generate_seconds']} s)", flush=True)
            result["sizes"][label] = measure_size(label, manifest, data_dir, work, args.repeat, args.num_proc)
            evict_from_page_cache(data_dir)  # so that it does not crowd the next size out of the page cache
        if not args.skip_pi:
            result["pi"] = measure_pi(Path(args.pi_dir), work, args.repeat, args.pi_decimals)
        result["checks"] = checks(result, args.num_proc)
        result["all_pass"] = all(c["pass"] for c in result["checks"])
        print_report(result, args.num_proc)
        if args.profile:
            py_spy = args.py_spy or shutil.which("py-spy")
            result["profile"] = run_profiles(work / "data-default", work, py_spy, args.num_proc)
            print_profile(result["profile"], result["sizes"]["default"]["floor"])
        result["total_seconds"] = round(time.perf_counter() - t_start, 1)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwritten {out} ({result['total_seconds']} s in all)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
