"""Image classification: fine-tune the exported encoder on labeled images.

    python apps/image_classification/train.py                      # Fashion-MNIST (10 classes)
    python apps/image_classification/train.py --data digits        # scikit-learn's 8x8 digits
    python apps/image_classification/train.py --data photos/       # photos/CLASS/*.png|jpg
    python apps/image_classification/train.py --freeze --label-fraction 0.1

Images are resized to the encoder's image size and converted to its channels. Writes
runs/apps/image_classification/DATA/TAG/{metrics.json,report.png} and exports
saved_models/image_classification/VERSION (uint8 images -> label, score) with TFLite files (the
TFLite model takes images at the encoder's size). See apps/image_classification/README.md.
"""

import argparse
import os
import sys

APP = "image_classification"


def build_parser():
    from mmpretrain.apps_support.cli import add_common_arguments

    parser = argparse.ArgumentParser(
        prog="apps/image_classification/train.py",
        description="Fine-tune the exported multimodal encoder for image classification and export "
                    "the classifier as a SavedModel + TFLite.",
    )
    parser.add_argument("--data", default="fashion-mnist",
                        help="'fashion-mnist' (default), 'digits', or a folder with one sub-folder of "
                             ".png/.jpg images per class")
    add_common_arguments(parser, APP)
    return parser


def run(data="fashion-mnist", encoder=None, seed=0, **options):
    """Trains, evaluates and (unless export=False) exports; returns the metrics dict."""
    from mmpretrain.apps_support.classifier_app import run_app

    return run_app(APP, data=data, encoder=encoder, seed=seed, **options)


def main(argv=None):
    from mmpretrain.apps_support.cli import command_line, parse, run_main, train_options

    args = parse(build_parser(), argv)
    command = command_line(os.path.relpath(__file__), sys.argv[1:] if argv is None else argv)
    return run_main(lambda: run(data=args.data, encoder=args.encoder, command=command,
                                **train_options(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
