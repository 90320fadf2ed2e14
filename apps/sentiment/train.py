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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common import adaptation, cli, training  # noqa: E402

APP, MODALITY = "sentiment", "text"
DEFAULTS = training.AppDefaults(data="vader", epochs=3, learning_rate=5e-4, frozen_learning_rate=5e-3)


def build_parser():
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
    cli.add_common_arguments(parser, APP, DEFAULTS)
    return parser


def load_data(data, info, seed=0, text_column=None, label_column=None):
    """The labeled `DataSplits` (`info`: the encoder's config.json, unused for text)."""
    from mmpretrain.data.labeled import load_text_data

    return load_text_data(data, text_column, label_column, seed=seed)


def run(data="vader", encoder=None, text_column=None, label_column=None, splits=None, adapt=None, **options):
    """Trains, evaluates and (unless export=False) exports; returns the metrics dict.

    `options` are the common flags (`training.settings`): freeze, from_scratch, label_fraction,
    epochs, batch_size, learning_rate, max_train_examples, max_test_examples, output, name,
    report_dir, export, tflite, seed, verbose, command. `splits`: data loaded already.
    `adapt`: STEPS of continued pretraining on the training inputs first (`apps.common.adaptation`).
    """
    import keras

    from mmpretrain.tasks import Classifier, load_encoder

    settings = training.settings(APP, MODALITY, DEFAULTS, encoder, data, **options)
    adapt = adaptation.check(settings, adapt)  # --adapt STEPS

    # 1. Data: labeled sentences; a stratified share of the training labels; tf.data of raw strings
    if splits is None:
        splits = load_data(data, settings.encoder_config, settings.split_seed, text_column, label_column)
    if adapt:  # 1b. continued masked pretraining of the encoder on the training inputs, labels unused
        adaptation.adapt_encoder(splits, settings, adapt)
    labeled = training.labeled_data(splits, settings)

    # 2. Model: the exported encoder (strings in, WordPiece inside) + Dropout/Dense head
    keras.utils.set_random_seed(settings.seed)
    encoder = load_encoder(settings.encoder_dir, MODALITY, trainable=not settings.freeze,
                           from_scratch=settings.from_scratch, seed=settings.seed)
    model = Classifier(encoder, num_classes=len(labeled.class_names))

    # 3. Compile: Adam, sparse categorical cross-entropy on logits, accuracy
    model.compile(learning_rate=training.learning_rate(settings, labeled))

    # 4. Fit a fixed number of epochs; keep the weights of the best validation epoch
    best = training.restore_best_validation()
    history = model.fit(labeled.train, validation_data=labeled.validation, epochs=settings.epochs,
                        validation_freq=settings.validation_freq, callbacks=[best], shuffle=False,
                        verbose=settings.keras_verbose)

    # 5. Evaluate on the held-out test split: metrics + report.png
    metrics = training.evaluate(model, labeled, history, best, settings)

    # 6. Export saved_models/sentiment/VERSION + TFLite, checked against the Keras model
    if settings.export:
        training.export(model, labeled, metrics, settings)
    return training.finish(metrics, settings)


def main(argv=None):
    args = cli.parse(build_parser(), argv)
    command = cli.command_line(os.path.relpath(__file__), sys.argv[1:] if argv is None else argv)
    return cli.run_main(lambda: run(data=args.data, encoder=args.encoder, text_column=args.text_column,
                                    label_column=args.label_column, command=command,
                                    **cli.train_options(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
