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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common import adaptation, cli, training  # noqa: E402

APP, MODALITY = "image_classification", "image"
DEFAULTS = training.AppDefaults(data="fashion-mnist", epochs=3, learning_rate=1e-3, frozen_learning_rate=5e-3,
                                max_train_examples=4000, max_test_examples=2000)
# No augmentation by default: `--augment flip,shift` helps with 10% of the labels (30 epochs) but
# hurt with all of them in the default 3 epochs (apps/image_classification/README.md).


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/image_classification/train.py",
        description="Fine-tune the exported multimodal encoder for image classification and export "
                    "the classifier as a SavedModel + TFLite.",
    )
    parser.add_argument("--data", default="fashion-mnist",
                        help="'fashion-mnist' (default), 'digits', or a folder with one sub-folder of "
                             ".png/.jpg images per class")
    cli.add_common_arguments(parser, APP, DEFAULTS)
    return parser


def load_data(data, info, seed=0):
    """The labeled `DataSplits`, images at the encoder's size and channels (`info`: its config.json)."""
    from mmpretrain.data.labeled import load_image_data

    return load_image_data(data, info, seed=seed)


def run(data="fashion-mnist", encoder=None, splits=None, adapt=None, **options):
    """Trains, evaluates and (unless export=False) exports; returns the metrics dict.

    `options` are the common flags (`training.settings`); `splits`: data loaded already;
    `adapt`: STEPS of continued pretraining on the training inputs first (`apps.common.adaptation`).
    """
    import keras

    from mmpretrain.tasks import Classifier, load_encoder

    settings = training.settings(APP, MODALITY, DEFAULTS, encoder, data, **options)
    adapt = adaptation.check(settings, adapt)  # --adapt STEPS

    # 1. Data: labeled images at the encoder's size; a stratified share of the training labels
    if splits is None:
        splits = load_data(data, settings.encoder_config, settings.split_seed)
    if adapt:  # 1b. continued masked pretraining of the encoder on the training inputs, labels unused
        adaptation.adapt_encoder(splits, settings, adapt)
    labeled = training.labeled_data(splits, settings)

    # 2. Model: the exported encoder (uint8 images in, patches inside) + Dropout/Dense head
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

    # 6. Export saved_models/image_classification/VERSION + TFLite, checked against the Keras model
    if settings.export:
        training.export(model, labeled, metrics, settings)
    return training.finish(metrics, settings)


def main(argv=None):
    args = cli.parse(build_parser(), argv)
    command = cli.command_line(os.path.relpath(__file__), sys.argv[1:] if argv is None else argv)
    return cli.run_main(lambda: run(data=args.data, encoder=args.encoder, command=command,
                                    **cli.train_options(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
