"""Sentiment (text classification): fine-tune the exported encoder on labeled sentences.

    python apps/sentiment/train.py                          # VADER movie-review sentences
    python apps/sentiment/train.py --data sms-spam          # SMS spam detection (ham/spam)
    python apps/sentiment/train.py --data reviews.csv --text-column review --label-column stars
    python apps/sentiment/train.py --label-fraction 0.1 --from-scratch --no-export

Writes runs/apps/sentiment/DATA/TAG/{metrics.json,report.png} and exports saved_models/sentiment/VERSION
(raw strings -> label, score) with TFLite files; `mmpretrain.pipeline("sentiment-analysis")` uses
the newest version. See apps/sentiment/README.md for measured figures.
"""

import argparse
import os
import sys

APP = "sentiment"


def build_parser():
    from mmpretrain.apps_support.cli import add_common_arguments

    parser = argparse.ArgumentParser(
        prog="apps/sentiment/train.py",
        description="Fine-tune the exported multimodal encoder for text classification (sentiment by "
                    "default) and export the classifier as a SavedModel + TFLite.",
    )
    parser.add_argument("--data", default="vader",
                        help="'vader' (movie-review sentences, POSITIVE/NEGATIVE; default), 'sms-spam' "
                             "(ham/spam), or a .csv/.tsv file with a header row, a text and a label column")
    parser.add_argument("--text-column", default=None,
                        help="text column of a CSV/TSV: header name or 0-based index (default: the column "
                             "named text/sentence/message/review/...)")
    parser.add_argument("--label-column", default=None,
                        help="label column of a CSV/TSV: header name or 0-based index (default: the column "
                             "named label/class/sentiment/category/...)")
    add_common_arguments(parser, APP)
    return parser


def run(data="vader", encoder=None, text_column=None, label_column=None, seed=0, **options):
    """Trains, evaluates and (unless export=False) exports; returns the metrics dict.

    `options` are `train_classifier`'s: freeze, from_scratch, label_fraction, epochs,
    batch_size, learning_rate, max_train_examples, max_test_examples, output, report_dir,
    export, tflite, verbose, command.
    """
    from mmpretrain.apps_support.classifier_app import run_app

    return run_app(APP, data=data, encoder=encoder, seed=seed,
                   data_options={"text_column": text_column, "label_column": label_column}, **options)


def main(argv=None):
    from mmpretrain.apps_support.cli import command_line, parse, run_main, train_options

    args = parse(build_parser(), argv)
    command = command_line(os.path.relpath(__file__), sys.argv[1:] if argv is None else argv)
    return run_main(lambda: run(data=args.data, encoder=args.encoder, text_column=args.text_column,
                                label_column=args.label_column, command=command, **train_options(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
