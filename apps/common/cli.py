"""The flags every trainable app script shares, and the error handling of their `main`.

    parser = argparse.ArgumentParser(...)
    parser.add_argument("--data", ...)                   # the app's own flags
    add_common_arguments(parser, APP, DEFAULTS)          # --encoder --freeze --label-fraction ...
    args = parse(parser, argv)
    return run_main(lambda: run(data=args.data, **train_options(args)), argv)
"""

import argparse
import json
import shlex
import sys


def cap(text):
    if str(text).lower() in ("all", "none", "0"):
        return None
    if text == "default":  # the app's own default (apps/compare.py)
        return "default"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', received {text!r}")
    return value


def steps(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of steps >= 1, e.g. 200; received {text!r}")
    return value


def fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], e.g. 0.1; received {text!r}")
    return value


def add_encoder_argument(parser):
    parser.add_argument(
        "--encoder", default=None, metavar="DIR",
        help="encoder SavedModel: saved_models/NAME (its newest version) or saved_models/NAME/VERSION "
             "(default: saved_models/mmpretrain_tiny, which `make demo` exports)")


def add_trunk_arguments(parser, uses):
    """--run / --encoder / --from-scratch of the apps that fine-tune a run's Keras trunk itself
    (`uses`: what of it they use, e.g. "audio encoder")."""
    parser.add_argument("--run", default=None, metavar="RUN_DIR",
                        help=f"the pretraining run whose {uses} is used (default: the run the demo "
                             "encoder saved_models/mmpretrain_tiny was exported from)")
    parser.add_argument("--encoder", default=None, metavar="DIR", help="an exported encoder: its run is used")
    parser.add_argument("--from-scratch", action="store_true",
                        help="the same architecture with freshly initialised weights (the baseline)")


def add_common_arguments(parser, app, defaults):
    """--encoder --freeze --from-scratch --label-fraction --epochs ... with the app's defaults
    (`defaults`: the script's `training.AppDefaults`)."""
    add_encoder_argument(parser)
    parser.add_argument("--freeze", action="store_true",
                        help="keep the encoder fixed and train the head only (linear probe)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="train the same architecture from freshly initialised encoder weights")
    parser.add_argument("--adapt", type=steps, default=None, metavar="STEPS",
                        help="before fine-tuning, continue the masked pretraining of the encoder for "
                             "STEPS steps on this run's training inputs (labels unused; never the "
                             "validation or test inputs), export it under runs/apps/APP/DATA/adapt-* "
                             "and fine-tune from it (like `mmpretrain pretrain --init-from`)")
    parser.add_argument("--label-fraction", type=fraction, default=1.0, metavar="F",
                        help="share of the training labels to use, class-stratified (default 1.0; e.g. 0.1)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs, fixed, no early stopping (default {defaults.epochs} at 100%% of "
                             "the labels and as many steps at fewer: 10x the epochs at 10%%)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"Adam learning rate (default {defaults.learning_rate:g}, "
                             f"{defaults.frozen_learning_rate:g} with --freeze)")
    parser.add_argument("--max-train-examples", type=cap, default=defaults.max_train_examples, metavar="N",
                        help="cap on the training pool before --label-fraction, stratified "
                             f"(default {defaults.max_train_examples or 'all'}; 'all' for no cap)")
    parser.add_argument("--max-test-examples", type=cap, default=defaults.max_test_examples, metavar="N",
                        help="cap on the validation and test splits, stratified "
                             f"(default {defaults.max_test_examples or 'all'})")
    parser.add_argument("--output", default=None,
                        help="base directory of the exports (default saved_models); the model goes "
                             f"to OUTPUT/{app}/VERSION")
    parser.add_argument("--name", default=app,
                        help=f"exported model name (default {app}: what the pipelines use by default)")
    parser.add_argument("--report-dir", default=None,
                        help=f"where metrics.json and report.png go (default runs/apps/{app}/DATA/TAG)")
    parser.add_argument("--no-export", action="store_true", help="train and evaluate only")
    parser.add_argument("--no-tflite", action="store_true", help="export the SavedModel without TFLite files")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the label subset, initialisation and shuffling (the splits stay)")
    parser.add_argument("--augment", default="default",
                        help="augmentations of the training examples, comma-separated, or 'none' "
                             f"(default: {','.join(defaults.augment) or 'none'}; images: flip, shift; "
                             "audio: gain, delay, noise)")
    parser.add_argument("--schedule", default="default", choices=("default", "constant", "cosine"),
                        help=f"learning-rate schedule (default: {defaults.schedule}; cosine: 10%% linear "
                             "warmup, then cosine decay to 0)")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="seed of the train/validation/test split (default 0: the split the "
                             "pretraining corpus keeps its test sentences out of)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                        help="0 quiet, 1 progress lines (default), 2 Keras' per-epoch lines too")


def train_options(args):
    """The keyword arguments of the script's `run` for the parsed common flags."""
    return dict(
        adapt=args.adapt,
        freeze=args.freeze, from_scratch=args.from_scratch, label_fraction=args.label_fraction,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        max_train_examples=args.max_train_examples, max_test_examples=args.max_test_examples,
        output=args.output, name=args.name, report_dir=args.report_dir, export=not args.no_export,
        tflite=not args.no_tflite, seed=args.seed, split_seed=args.split_seed, augment=args.augment, schedule=args.schedule,
        verbose=args.verbose,
    )


def command_line(script, argv):
    return " ".join(shlex.quote(a) for a in ["python", script, *argv])


def run_main(function, argv, summary_keys=("test_accuracy",)):
    """Calls `function()`; prints a JSON summary, or `error: ...` and exit code 2 on bad input."""
    try:
        result = function()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = {k: result[k] for k in summary_keys if k in result}
    if "export" in result:
        summary["saved_model"] = result["export"]["saved_model"]
    print(json.dumps(summary, indent=2))
    return 0


def report_main(parser, run, print_summary, argv=None, summary_keys=("scores", "baselines")):
    """The `main` of an app whose `run(args)` returns its metrics: parse, run, print the summary
    (`print_summary(metrics)`), then the JSON summary; bad input -> `error: ...` and exit code 2."""
    args = parser.parse_args(argv)

    def go():
        metrics = run(args)
        print_summary(metrics)
        return metrics

    return run_main(go, argv, summary_keys=summary_keys)


def parse(parser, argv):
    return parser.parse_args(sys.argv[1:] if argv is None else argv)
