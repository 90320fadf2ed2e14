"""Pretrained vs scratch vs a classical baseline, with 10% and 100% of the labels, for one app:
prints a table.

    python apps/compare.py sentiment
    python apps/compare.py sentiment --seeds 3                    # seeds 0..2: mean ± std per cell
    python apps/compare.py image_classification --classical-only  # the scikit-learn baselines alone
    python apps/compare.py image_classification --fractions 0.1,1.0 --epochs 3
    python apps/compare.py keyword_spotting --freeze            # linear probes
    python apps/compare.py text_embedding                       # k-NN accuracy, no training
    python apps/compare.py fill_mask                            # held-out masked-token accuracy

Every run uses the same splits and settings; only the encoder's starting weights and the label
fraction change. The classical column (trainable apps: TF-IDF + logistic regression for text,
logistic regression on pixels for images, log-mel statistics + logistic regression for audio;
C picked on the validation split) is fitted on exactly the training examples of the neural runs
at that fraction and seed (apps/common/classical.py). Rows also go to
runs/apps/APP/DATA/compare.{json,md}; runs are not exported.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for apps.common
from apps.common.cli import add_encoder_argument, cap  # noqa: E402
from apps.common.scripts import APPS, CLASSIFIER_APPS  # noqa: E402


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/compare.py",
        description="Run an app from the pretrained encoder and from scratch, at several label "
                    "fractions, on the same splits; print the test accuracies as a table.")
    parser.add_argument("app", choices=APPS)
    parser.add_argument("--data", default=None, help="the app's --data (default: its embedded data set)")
    add_encoder_argument(parser)
    parser.add_argument("--fractions", default="0.1,1.0", help="comma-separated label fractions (default 0.1,1.0)")
    parser.add_argument("--freeze", action="store_true", help="linear probes (trainable apps)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the app's)")
    parser.add_argument("--learning-rate", type=float, default=None, help="Adam learning rate (default: the app's)")
    parser.add_argument("--max-train-examples", type=cap, default="default", metavar="N",
                        help="cap on the training pool (default: the app's; 'all' for none)")
    parser.add_argument("--max-test-examples", type=cap, default="default", metavar="N",
                        help="cap on the validation/test splits (default: the app's)")
    parser.add_argument("--keywords", default=None, help="keyword_spotting: comma-separated words")
    parser.add_argument("--run", default=None, help="fill_mask: the pretraining run (default: the encoder's)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="run N seeds, --seed .. --seed+N-1 (each its own label subsets and initialisation, on the same splits); "
                             "the table shows mean ± std per cell (default 1)")
    baselines = parser.add_mutually_exclusive_group()
    baselines.add_argument("--classical-only", action="store_true",
                           help="trainable apps: fit the classical baselines only, no neural runs")
    baselines.add_argument("--no-classical", action="store_true", help="skip the classical baselines")
    parser.add_argument("--augment", default="default",
                        help="trainable apps: the training augmentations (default: the app's; 'none')")
    parser.add_argument("--schedule", default="default", choices=("default", "constant", "cosine"),
                        help="trainable apps: the learning-rate schedule (default: the app's)")
    parser.add_argument("--initializations", default="pretrained,scratch",
                        help="comma-separated: pretrained and/or scratch (default both)")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    return parser


def main(argv=None):
    from apps.common.compare import compare, format_table

    args = build_parser().parse_args(argv)
    try:
        fractions = tuple(float(f) for f in args.fractions.split(",") if f.strip())
    except ValueError:
        print(f"error: --fractions takes numbers like 0.1,1.0; received {args.fractions!r}", file=sys.stderr)
        return 2
    if args.seeds < 1:
        print(f"error: --seeds takes a positive number of seeds; received {args.seeds}", file=sys.stderr)
        return 2
    if args.classical_only and args.app not in CLASSIFIER_APPS:
        print(f"error: --classical-only applies to the trainable apps {list(CLASSIFIER_APPS)}", file=sys.stderr)
        return 2
    options, data_options = {}, None
    if args.app in CLASSIFIER_APPS:
        options = dict(epochs=args.epochs, learning_rate=args.learning_rate,
                       max_train_examples=args.max_train_examples, max_test_examples=args.max_test_examples,
                       augment=args.augment, schedule=args.schedule)
        if args.keywords:
            data_options = {"keywords": [w.strip() for w in args.keywords.split(",") if w.strip()]}
    elif args.app == "fill_mask" and args.run:
        options = {"run_dir": args.run}
    try:
        rows = compare(args.app, data=args.data, encoder=args.encoder, label_fractions=fractions,
                       initializations=() if args.classical_only else tuple(
                           i.strip() for i in args.initializations.split(",") if i.strip()),
                       freeze=args.freeze, data_options=data_options,
                       seeds=range(args.seed, args.seed + args.seeds), classical=not args.no_classical,
                       verbose=args.verbose, **options)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
