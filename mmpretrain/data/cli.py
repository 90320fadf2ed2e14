"""`mmpretrain data prepare [NAMES]` and `mmpretrain data list`.

The project's CLI calls `add_data_parser(subparsers)` and then `args.func(args)`. Runnable on its
own as `python -m mmpretrain.data.cli list`.
"""

import argparse
import json
import sys


def _format_counts(counts):
    if counts is None:
        return "-"
    parts = []
    for key, value in counts.items():
        if isinstance(value, dict):
            value = sum(value.values())
        parts.append(f"{key}={value}")
    return " ".join(parts)


def _check_names(names):
    from mmpretrain.data.registry import SOURCES

    unknown = [name for name in names or () if name not in SOURCES]
    if unknown:
        print(f"mmpretrain data: error: Unknown source(s) {unknown}. Expected names from: "
              f"{', '.join(SOURCES)}.", file=sys.stderr)
        return False
    return True


def run_list(args):
    from mmpretrain.data.cache import cache_dir
    from mmpretrain.data.registry import corpus_summaries, describe

    if not _check_names(args.names):
        return 2

    rows = describe(args.names or None, root=args.cache_dir, with_counts=not args.no_counts)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"cache: {cache_dir(args.cache_dir)}")
    header = f"{'NAME':<14}{'KIND':<14}{'STATUS':<9}{'SIZE':>10}  EXAMPLES"
    print(header)
    for row in rows:
        size = f"{row['bytes'] / 1e6:.1f} MB" if row["bytes"] else "-"
        examples = _format_counts(row["counts"])
        if row["status"] == "missing":
            examples = f"get it with `{row['fetch']}`"
        print(f"{row['name']:<14}{row['kind']:<14}{row['status']:<9}{size:>10}  {examples}")
    for line in corpus_summaries(rows):
        print(line)
    return 0


def run_prepare(args):
    from mmpretrain.data.registry import prepare

    if not _check_names(args.names):
        return 2
    results = prepare(args.names or None, root=args.cache_dir)
    failed = {name: message for name, message in results.items()
              if message not in ("present", "fetched")}
    if failed:
        print(f"{len(failed)} source(s) not prepared: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def add_data_parser(subparsers):
    """Adds `data` with sub-commands `prepare` and `list`; each sets `args.func`."""
    from mmpretrain.data.registry import SOURCES

    data = subparsers.add_parser("data", help="embedded data sets: fetch and list them")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    names_help = f"sources (default: all): {', '.join(SOURCES)}"

    prepare = data_sub.add_parser("prepare", help="fetch missing sources into the cache")
    prepare.add_argument("names", nargs="*", help=names_help, metavar="NAME")
    prepare.add_argument("--cache-dir", default=None,
                         help="cache folder (default: $MMPRETRAIN_CACHE or ~/.cache/mmpretrain)")
    prepare.set_defaults(func=run_prepare)

    show = data_sub.add_parser("list", help="each source: status, size, example counts")
    show.add_argument("names", nargs="*", help=names_help, metavar="NAME")
    show.add_argument("--cache-dir", default=None,
                      help="cache folder (default: $MMPRETRAIN_CACHE or ~/.cache/mmpretrain)")
    show.add_argument("--no-counts", action="store_true", help="skip loading to count examples")
    show.add_argument("--json", action="store_true", help="print the rows as JSON")
    show.set_defaults(func=run_list)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mmpretrain")
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
