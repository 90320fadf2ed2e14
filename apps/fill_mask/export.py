"""Fill-mask: export the pretrained MLM head as an app (strings with [MASK] -> top-k tokens).

    python apps/fill_mask/export.py                       # the run behind saved_models/mmpretrain_tiny
    python apps/fill_mask/export.py --run runs/demo --top-k 20
    python apps/fill_mask/export.py --from-scratch --no-export   # the untrained head, as a baseline

Measures held-out accuracy first (one wordpiece of each of 500 sentences from the text corpus's
test split replaced by [MASK]: top-1/top-5 recovery), then exports saved_models/fill_mask/VERSION
(serving_default: text -> token_ids, tokens, scores, mask_count) and its TFLite files, checking
that both give the eager model's top tokens. `mmpretrain.pipeline("fill-mask")` uses it. See
apps/fill_mask/README.md.
"""

import argparse
import json
import sys

APP = "fill_mask"


def build_parser():
    from mmpretrain.apps_support.cli import add_encoder_argument

    parser = argparse.ArgumentParser(
        prog="apps/fill_mask/export.py",
        description="Export the pretraining run's MLM head as a fill-mask SavedModel + TFLite, after "
                    "measuring its held-out masked-token accuracy.")
    parser.add_argument("--run", default=None,
                        help="the pretraining run directory (default: the run the --encoder was exported from)")
    add_encoder_argument(parser)
    parser.add_argument("--top-k", type=int, default=20, help="candidates the model returns (default 20)")
    parser.add_argument("--from-scratch", action="store_true", help="a freshly initialised head and encoder")
    parser.add_argument("--eval-examples", type=int, default=500, help="held-out sentences to score (default 500)")
    parser.add_argument("--output", default=None, help="base directory of the exports (default saved_models)")
    parser.add_argument("--no-export", action="store_true", help="measure only")
    parser.add_argument("--no-tflite", action="store_true", help="export the SavedModel without TFLite files")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def run(run_dir=None, encoder=None, top_k=20, from_scratch=False, eval_examples=500, eval_texts=None,
        output=None, export=True, tflite=True, seed=0, verbose=1):
    """Evaluates and (unless export=False) exports; returns the metrics dict."""
    from mmpretrain.apps_support.fill_mask import export_fill_mask, heldout_texts, load_masked_lm, run_dir_of_encoder
    from mmpretrain.apps_support.models import models_root

    if top_k < 1:
        raise ValueError(f"top_k must be a positive integer; received {top_k}.")
    run_dir = run_dir or run_dir_of_encoder(encoder)
    if eval_texts is None:
        eval_texts = heldout_texts(load_masked_lm(run_dir)[0], count=eval_examples, seed=seed)
    return export_fill_mask(run_dir, output or models_root(), top_k=top_k, from_scratch=from_scratch,
                            eval_texts=eval_texts, export=export, tflite=tflite, seed=seed,
                            log=print if verbose else (lambda *a: None))


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        metrics = run(args.run, args.encoder, args.top_k, args.from_scratch, args.eval_examples, output=args.output,
                      export=not args.no_export, tflite=not args.no_tflite, seed=args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = {k: metrics[k] for k in ("heldout_top1_accuracy", "heldout_top5_accuracy",
                                       "heldout_most_frequent_token_accuracy")}
    if "export" in metrics:
        summary["saved_model"] = metrics["export"]["saved_model"]
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
