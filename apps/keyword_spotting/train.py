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

APP = "keyword_spotting"


def _words(text):
    words = [w.strip() for w in text.split(",") if w.strip()]
    if len(words) < 2 or len(set(words)) != len(words):
        raise argparse.ArgumentTypeError(
            f"expected at least two distinct comma-separated words, e.g. yes,no,stop; received {text!r}")
    return words


def build_parser():
    from mmpretrain.apps_support.cli import add_common_arguments

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
    add_common_arguments(parser, APP)
    return parser


def run(data="speech", encoder=None, keywords=None, voices=None, seed=0, **options):
    """Trains, evaluates and (unless export=False) exports; returns the metrics dict."""
    from mmpretrain.apps_support.classifier_app import run_app

    data_options = {}
    if str(data) == "speech":
        data_options = {"keywords": keywords, "voices": voices, "progress": options.get("verbose", 1) > 0}
    elif keywords or voices:
        raise ValueError(f"--keywords and --voices apply to --data speech only; received --data {data!r}.")
    return run_app(APP, data=data, encoder=encoder, seed=seed, data_options=data_options, **options)


def main(argv=None):
    from mmpretrain.apps_support.cli import command_line, parse, run_main, train_options

    args = parse(build_parser(), argv)
    command = command_line(os.path.relpath(__file__), sys.argv[1:] if argv is None else argv)
    voices = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else None
    return run_main(lambda: run(data=args.data, encoder=args.encoder, keywords=args.keywords, voices=voices,
                                command=command, **train_options(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
