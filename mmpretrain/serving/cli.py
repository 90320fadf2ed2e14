"""`mmpretrain serve`: TF Serving's REST API over the exported models in a directory."""

import sys

from mmpretrain.serving.rest_server import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_PORT,
)


def add_serve_parser(subparsers):
    p = subparsers.add_parser(
        "serve",
        help="serve exported SavedModels over TF Serving's REST API",
        description=(
            "Serve every model under DIR (TF Serving layout NAME/VERSION/, as `mmpretrain export` "
            "writes it) over TF Serving's REST API: GET /v1/models/NAME[/versions/N][/metadata], "
            "POST /v1/models/NAME[/versions/N]:predict. New versions are picked up as they appear."
        ),
    )
    p.add_argument("dir", metavar="DIR", nargs="?", default="saved_models",
                   help="the models' base directory (default: saved_models)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to bind (default {DEFAULT_HOST}; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}, TF Serving's REST port)")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help=f"largest accepted request body (default {DEFAULT_MAX_BODY_BYTES}); larger ones get 413")
    p.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
                   help=f"largest b64 image (width x height, read from its header before decoding; "
                        f"default {DEFAULT_MAX_IMAGE_PIXELS}); larger ones get 400")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.set_defaults(func=run_serve_command)
    return p


def run_serve_command(args):
    from mmpretrain.serving.rest_server import describe, make_server

    try:
        server = make_server(args.dir, host=args.host, port=args.port,
                             max_body_bytes=args.max_body_bytes, verbose=args.verbose,
                             max_image_pixels=args.max_image_pixels)
    except (ValueError, OSError) as err:
        print(f"mmpretrain serve: error: {err}", file=sys.stderr)
        return 2
    print(describe(server), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv=None):  # for `python -m mmpretrain.serving.cli` while the top-level CLI is wired
    import argparse

    parser = argparse.ArgumentParser(prog="mmpretrain")
    add_serve_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
