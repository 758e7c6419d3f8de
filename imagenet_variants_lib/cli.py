"""``imagenet-variants``: a thin command line over the library functions.

Errors print one paragraph on stderr and exit with status 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Sequence

from .errors import ImagenetVariantsError
from .loading import CONFIG_NAMES


def _add_data_args(p: argparse.ArgumentParser, num_proc: bool = True) -> None:
    p.add_argument("config", choices=CONFIG_NAMES, help="which variant")
    p.add_argument("--data-dir", required=True, help="folder with the ImageNet tarballs (and metadata files, if you have them)")
    p.add_argument("--cache-dir", help="datasets cache folder (default: datasets' own, ~/.cache/huggingface/datasets)")
    if num_proc:
        p.add_argument("--num-proc", type=int, help="worker processes for preparation (one per core is a good choice)")
        p.add_argument("--skip-unreadable-images", action="store_true", help="leave out images PIL cannot open (counted in the log) instead of stopping")


def _config_kwargs(args) -> dict:
    return {"skip_unreadable_images": True} if getattr(args, "skip_unreadable_images", False) else {}


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.dir, cache_dir=args.cache_dir, num_proc=args.num_proc)
    return 0


def cmd_prepare(args) -> int:
    from .loading import builder, prepare

    b = builder(args.config, data_dir=args.data_dir, cache_dir=args.cache_dir, **_config_kwargs(args))
    prepare(b, num_proc=args.num_proc)
    print(f"{args.config}: prepared in {b.cache_dir}")
    for split, info in b.info.splits.items():
        print(f"  {split:<12} {info.num_examples:>10,} images  {info.num_bytes / 2**20:>10,.1f} MiB")
    print(f'Load it with: imagenet_variants_lib.load_variant("{args.config}", data_dir="{args.data_dir}"'
          + (f', cache_dir="{args.cache_dir}"' if args.cache_dir else "") + ")")
    return 0


def cmd_export(args) -> int:
    from .export import export_config

    result = export_config(args.config, args.data_dir, args.output, cache_dir=args.cache_dir, num_proc=args.num_proc,
                           max_shard_size=args.max_shard_size, **_config_kwargs(args))
    print(f"{args.config}: exported to {result['output']}")
    for split, info in result["splits"].items():
        print(f"  {split:<12} {info['num_rows']:>10,} rows in {len(info['files'])} Parquet file(s)")
    print(f'Load it with: datasets.load_dataset("{result["output"]}", "{args.config}")')
    return 0


def cmd_push(args) -> int:
    from .hub import push_config

    url = push_config(args.config, args.data_dir, args.repo_id, private=not args.public, cache_dir=args.cache_dir,
                      num_proc=args.num_proc)
    print(f"{args.config}: uploaded to {url} ({'public' if args.public else 'private'})")
    return 0


def cmd_verify(args) -> int:
    from .verify import verify_config

    report = verify_config(args.config, args.data_dir, checksums=args.checksums)
    print(report.format())
    return 0 if report.ok else 1


def cmd_submission(args) -> int:
    from .submission import load_predictions, write_submission

    n = write_submission(load_predictions(args.predictions), args.output)
    print(f"Wrote {n:,} lines to {args.output} (top-5 1-based class ids per test image, in file-name order).")
    return 0


def cmd_class_names(args) -> int:
    import json

    from .class_names import class_names

    print(json.dumps(class_names(args.data_dir), indent=1))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="imagenet-variants", description="ImageNet and its relabelings as Hugging Face datasets, from your ILSVRC-2012 tarballs.")
    top.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="generate a tiny fake ImageNet and prepare every config from it")
    p.add_argument("--dir", help="where to write the demo data and cache (default: a new temporary folder)")
    p.add_argument("--cache-dir", help="datasets cache folder (default: inside --dir)")
    p.add_argument("--num-proc", type=int)
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("prepare", help="prepare a config's Arrow cache from the tarballs")
    _add_data_args(p)
    p.set_defaults(run=cmd_prepare)

    p = sub.add_parser("export", help="write a config as Parquet shards + dataset card (Hub layout)")
    _add_data_args(p)
    p.add_argument("--output", required=True, help="export folder; several configs can share it")
    p.add_argument("--max-shard-size", default="500MB", help="largest Parquet file, e.g. 500MB or 1GB (default 500MB)")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("push", help="export a config and upload it to a Hub dataset repo (private by default)")
    _add_data_args(p)
    p.add_argument("--repo-id", required=True, help="e.g. my-org/imagenet-variants")
    p.add_argument("--public", action="store_true", help="create a public repo (default: private)")
    p.set_defaults(run=cmd_push)

    p = sub.add_parser("verify", help="check a config's files: presence, format, image counts, checksums")
    _add_data_args(p, num_proc=False)
    p.add_argument("--checksums", action="store_true", help="also check md5 of the tarballs and sha256 of the metadata (reads every byte)")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("submission", help="write the ILSVRC-2012 test-server file from test-set predictions")
    p.add_argument("--predictions", required=True, help=".npy array (n, >=5) in test-file-name order, or .json {file name: ranked class indices}")
    p.add_argument("--output", required=True, help="text file to write (100,000 lines of 5 1-based class ids)")
    p.set_defaults(run=cmd_submission)

    p = sub.add_parser("class-names", help="print WNID -> human-readable class name (as on the Hub's imagenet-1k)")
    p.add_argument("--data-dir", help="folder with class_info.json or hf_imagenet1k_classes.json (else downloaded)")
    p.set_defaults(run=cmd_class_names)
    return top


def _user_error(exc: BaseException) -> BaseException | None:
    """The error to show the user without a traceback, or None for a bug."""
    import datasets

    if isinstance(exc, datasets.exceptions.DatasetGenerationError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, (ImagenetVariantsError, ValueError, FileNotFoundError, PermissionError, OSError)):
        return exc
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("Interrupted; nothing partial is kept (a re-run starts clean).", file=sys.stderr)
        return 130
    except Exception as exc:  # reported as one paragraph; --debug for the traceback
        shown = _user_error(exc)
        if args.debug or shown is None:
            traceback.print_exc()
            if shown is None:
                return 1
        else:
            print(f"imagenet-variants {args.command}: error: {shown}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
