"""`mmpretrain export`: a finished pretraining run -> SavedModels (TF Serving layout) + TFLite."""

import os
import sys


def add_export_parser(subparsers):
    p = subparsers.add_parser(
        "export",
        help="export a finished pretraining run as SavedModels (TF Serving layout) and TFLite",
        description=(
            "Export the encoder of a finished pretraining run: a SavedModel with one signature per "
            "modality (serve_text, serve_image, serve_audio, ...) in OUTPUT/NAME/VERSION/, the "
            "modalities' companion models (for text the TF Hub pair OUTPUT/NAME_text_preprocess "
            "and OUTPUT/NAME_text_encoder), and TFLite files "
            "(float32 and int8, with parity reports) in OUTPUT/NAME/VERSION/assets.extra/tflite/. "
            "Existing versions are never overwritten. Serve the result with `mmpretrain serve OUTPUT`."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory `mmpretrain pretrain --run-dir` wrote")
    p.add_argument("--name", default=None, help="model name (default: the run directory's basename)")
    p.add_argument("--output", default="saved_models", help="base directory of the TF Serving layout (default: saved_models)")
    p.add_argument("--version", type=int, default=None, help="version number to write (default: the next free one)")
    p.add_argument("--modalities", default=None,
                   help="comma-separated subset of the run's modalities, e.g. text,image (default: all)")
    p.add_argument("--no-tflite", action="store_true", help="skip the TFLite files")
    p.set_defaults(func=run_export_command)
    return p


def run_export_command(args):
    from mmpretrain.export.run_export import export_run

    def log(message):
        print(f"export: {message}", file=sys.stderr, flush=True)

    try:
        result = export_run(
            args.run_dir, output=args.output, name=args.name, version=args.version,
            modalities=args.modalities, tflite=not args.no_tflite, log=log,
        )
    except ValueError as err:
        print(f"mmpretrain export: error: {err}", file=sys.stderr)
        return 2
    print(summarize(result))
    return 0


def summarize(result):
    """Readable lines: where each model went and the measured parity."""
    lines = [f"Exported {result.name!r} version {result.version}:", f"  encoder          {result.encoder_dir}"]
    for role, path in result.companion_dirs.items():  # e.g. the TF Hub text pair
        lines.append(f"  {role.replace('_', ' '):<16} {path}")
    for modality, sizes in result.report["saved_model_parity"].items():
        worst = max(v["max_abs_diff"] for v in sizes.values())
        lines.append(f"  serve_{modality:<6} SavedModel vs Keras max abs diff {worst:.2e}")
    for modality, per in result.report.get("tflite", {}).items():
        f32, i8 = per["float32"], per["int8"]
        lines.append(
            f"  tflite {modality:<6} float32 {f32['bytes'] / 1e6:.2f} MB diff "
            f"{max(f32['max_abs_diff'].values()):.2e} | int8 {i8['bytes'] / 1e6:.2f} MB "
            f"({i8['size_ratio_to_float32']:.0%}; weights {i8['learned_weights_ratio_to_float32']:.0%}) "
            f"cosine min {i8['pooled_cosine_similarity']['min']:.4f}"
        )
    if result.tflite_dir:
        lines.append(f"  tflite files     {result.tflite_dir}")
    lines.append(f"Serve: mmpretrain serve {os.path.dirname(os.path.dirname(result.encoder_dir))}")
    return "\n".join(lines)


def main(argv=None):  # for `python -m mmpretrain.export.cli` while the top-level CLI is wired
    import argparse

    parser = argparse.ArgumentParser(prog="mmpretrain")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
