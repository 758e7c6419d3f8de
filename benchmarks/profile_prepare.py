"""``bench_prepare.py --profile``: where the builder spends its time, by cProfile and (if installed) py-spy.

Runs on the default-size data after the measurements: cProfile of the single-process builder (self
time per category, top functions with call counts), and py-spy samples of the floor, the builder
and the builder with ``num_proc`` (main threads only, the builder's process and its pool workers
apart), in seconds and microseconds per image.
"""

from __future__ import annotations

import collections
import shutil
import tempfile
from pathlib import Path

from children import builder_args, floor_args, run_child


# (path fragment, function names or None for any, category); the innermost matching frame of a
# sample (py-spy) or the function itself (cProfile) decides. Order matters: first match wins.
CATEGORIES = [
    ("imagenet_variants_lib/images.py", None, "ours: image header check (images.py)"),
    ("imagenet_variants_lib/tarwalk.py", {"read", "read_into"}, "ours: image reads (preadv of data + next header)"),
    ("imagenet_variants_lib/archives.py", {"read"}, "ours: image reads (preadv of data + next header)"),
    ("imagenet_variants_lib/tarwalk.py", None, "ours: tar header walk"),
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
    ("benchmarks/children.py", {"_fsync_tree"}, "fsync of the Arrow output"),
    ("benchmarks/children.py", {"child_floor", "_copy_files"}, "floor: loop, out.write, fsync"),
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
        "_generate_tables (ours, incl. tar reads)": ("imagenet_variants.py", "_generate_tables"),
        "TarWalk.read (ours, image bytes + next header into the batch buffer)": ("imagenet_variants_lib/tarwalk.py", "read"),
        "TarWalk.__iter__ (ours, tar headers)": ("imagenet_variants_lib/tarwalk.py", "__iter__"),
        "encode_example (datasets)": ("datasets/features/features.py", "encode_example"),
        "ArrowWriter.write (datasets)": ("datasets/arrow_writer.py", "write"),
        "ArrowWriter.write_examples_on_file (datasets)": ("datasets/arrow_writer.py", "write_examples_on_file"),
        "ArrowWriter._write_table (datasets, Arrow IPC -> file)": ("datasets/arrow_writer.py", "_write_table"),
        "ArrowWriter.finalize (datasets)": ("datasets/arrow_writer.py", "finalize"),
        "_prepare_split_single (datasets, whole split loop)": ("datasets/builder.py", "_prepare_split_single"),
        "join.plan (ours, before writing)": ("imagenet_variants_lib/join.py", "plan"),
        "_image_column (ours, header checks + odd-image repair)": ("imagenet_variants_lib/join.py", "_image_column"),
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


def _py_spy(py_spy: str, raw: Path, *extra: str) -> list[str]:
    """The py-spy command line that wraps a child: 200 Hz with idle samples, raw stacks to ``raw``."""
    return [py_spy, "record", "--idle", "--threads", "--rate", str(PY_SPY_RATE), "--format", "raw", "--full-filenames", "--output", str(raw), *extra, "--"]


def run_profiles(data_dir: Path, work: Path, py_spy: str | None, num_proc: int, writer_batch_size: int | None = None) -> dict:
    out: dict = {}
    scratch = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
    try:
        print("[profile] warm-up (floor, not counted)", flush=True)
        run_child(floor_args(data_dir, scratch / "warm-up.out"), work)
        stats_file = work / "builder.pstats"
        print("[profile] cProfile, builder single process", flush=True)
        r = run_child(builder_args(data_dir, scratch / "cprofile", None, writer_batch_size, stats_file), work)
        out["cprofile_single"] = {"seconds_under_profiler": round(r["seconds"], 2), **analyse_cprofile(stats_file, r["images"])}
        if not py_spy:
            out["py_spy"] = "not found: pip install py-spy (or pass --py-spy PATH) for an unbiased sampling profile"
            return out
        runs = [
            ("py_spy_floor", "floor", floor_args(data_dir, scratch / "floor.out"), []),
            ("py_spy_single", "builder single process", builder_args(data_dir, scratch / "single", None, writer_batch_size), []),
            (f"py_spy_num_proc{num_proc}", f"builder num_proc={num_proc}", builder_args(data_dir, scratch / "multi", num_proc, writer_batch_size), ["--subprocesses"]),
        ]
        for label, what, args, extra in runs:
            raw = work / f"{label}.txt"
            print(f"[profile] py-spy, {what}", flush=True)
            r = run_child(args, work, wrapper=_py_spy(py_spy, raw, *extra))
            out[label] = {"seconds_under_profiler": round(r["seconds"], 2), **analyse_pyspy(raw, r["images"])}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


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

