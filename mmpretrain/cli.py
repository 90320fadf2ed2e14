"""The `mmpretrain` command: pretrain, data, and (as they land) export, finetune, serve, demo."""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mmpretrain",
        description="Self-supervised multimodal pretraining with one shared Keras 3 Transformer.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from mmpretrain.data.cli import add_data_parser
    from mmpretrain.demo import add_demo_parser
    from mmpretrain.export.cli import add_export_parser
    from mmpretrain.serving.cli import add_serve_parser
    from mmpretrain.training.cli import add_pretrain_parser

    add_demo_parser(sub)
    add_pretrain_parser(sub)
    add_export_parser(sub)
    add_serve_parser(sub)
    add_data_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as error:
        print(f"mmpretrain {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
