"""Keyword spotting (audio classification): fine-tune the exported encoder on spoken words.

    python apps/keyword_spotting/train.py                              # 18 default keywords
    python apps/keyword_spotting/train.py --keywords yes,no,stop,go    # synthesizes new clips
    python apps/keyword_spotting/train.py --data calls/                # calls/CLASS/*.wav|flac|ogg

With `--data speech` (default) the clips are synthesized by espeak-ng and flite: every keyword
in 132 voices, whole voices held out for validation and test (no test voice is heard in
training). A new keyword list synthesizes its own clips (cached). Writes
runs/apps/keyword_spotting/DATA/TAG/{metrics.json,report.png} and exports
saved_models/keyword_spotting/VERSION (16 kHz waveforms + lengths -> label, score) with TFLite
files. See apps/keyword_spotting/README.md.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common import adaptation, cli, training  # noqa: E402

APP, MODALITY = "keyword_spotting", "audio"
DEFAULTS = training.AppDefaults(data="speech", epochs=6, learning_rate=1e-3, frozen_learning_rate=5e-3)


def _words(text):
    words = [w.strip() for w in text.split(",") if w.strip()]
    if len(words) < 2 or len(set(words)) != len(words):
        raise argparse.ArgumentTypeError(
            f"expected at least two distinct comma-separated words, e.g. yes,no,stop; received {text!r}")
    return words


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/keyword_spotting/train.py",
        description="Fine-tune the exported multimodal encoder for keyword spotting (audio "
                    "classification) and export the classifier as a SavedModel + TFLite.",
    )
    parser.add_argument("--data", default="speech",
                        help="'speech' (keywords synthesized by espeak-ng/flite; default) or a folder "
                             "with one sub-folder of .wav/.flac/.ogg files per class")
    parser.add_argument("--keywords", type=_words, default=None,
                        help="comma-separated words for --data speech (default: zero..nine, yes, no, up, "
                             "down, left, right, on, off, stop, go); a new list synthesizes new clips")
    parser.add_argument("--voices", default=None,
                        help="comma-separated voice ids for --data speech, e.g. en-us+f3,en-gb+m1,flite:slt "
                             "(default: all 132)")
    cli.add_common_arguments(parser, APP, DEFAULTS)
    return parser


def load_data(data, info, seed=0, keywords=None, voices=None, progress=True):
    """The labeled `DataSplits` of 16 kHz clips (`info`: the encoder's config.json)."""
    from mmpretrain.data.labeled import load_audio_data

    if str(data) != "speech" and (keywords or voices):
        raise ValueError(f"--keywords and --voices apply to --data speech only; received --data {data!r}.")
    return load_audio_data(data, info, keywords=keywords, voices=voices, seed=seed, progress=progress)


def run(data="speech", encoder=None, keywords=None, voices=None, splits=None, adapt=None, **options):
    """Trains, evaluates and (unless export=False) exports; returns the metrics dict.

    `options` are the common flags (`training.settings`); `splits`: data loaded already;
    `adapt`: STEPS of continued pretraining on the training inputs first (`apps.common.adaptation`).
    """
    import keras

    from mmpretrain.tasks import Classifier, load_encoder

    settings = training.settings(APP, MODALITY, DEFAULTS, encoder, data, **options)
    adapt = adaptation.check(settings, adapt)  # --adapt STEPS

    # 1. Data: labeled clips, padded to the encoder's length; a stratified share of the labels
    if splits is None:
        splits = load_data(data, settings.encoder_config, settings.split_seed, keywords, voices, settings.verbose > 0)
    if adapt:  # 1b. continued masked pretraining of the encoder on the training inputs, labels unused
        adaptation.adapt_encoder(splits, settings, adapt)
    labeled = training.labeled_data(splits, settings)

    # 2. Model: the exported encoder (waveforms + lengths in, log-mel inside) + Dropout/Dense head
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

    # 6. Export saved_models/keyword_spotting/VERSION + TFLite, checked against the Keras model
    if settings.export:
        training.export(model, labeled, metrics, settings)
    return training.finish(metrics, settings)


def main(argv=None):
    args = cli.parse(build_parser(), argv)
    command = cli.command_line(os.path.relpath(__file__), sys.argv[1:] if argv is None else argv)
    voices = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else None
    return cli.run_main(lambda: run(data=args.data, encoder=args.encoder, keywords=args.keywords, voices=voices,
                                    command=command, **cli.train_options(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
