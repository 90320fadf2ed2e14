"""Summarization: fine-tune a sequence-to-sequence model on the shared text encoder.

    python apps/summarization/train.py                          # Debian descriptions -> synopses
    python apps/summarization/train.py --from-scratch           # the same model, fresh weights
    python apps/summarization/train.py --run runs/demo --num-beams 4 --epochs 4

Data: each Debian package's long description and its one-line synopsis (`mmpretrain data
prepare ddtp`), split by source-package family (`mmpretrain.data.sources.ddtp`). The encoder
comes from a pretraining run (`--run`, default the run the demo encoder was exported from);
`--from-scratch` trains the same architecture from fresh weights with the same steps and data.

Scores: ROUGE-1/2/L F1 (`rouge-score`, stemmed, x100) on the test split for the model and for
the lead-8 baseline (the body's first 8 words) on the same examples; ten outputs drawn at random
from the test split. Writes runs/apps/summarization/TAG/{metrics.json,model.keras}.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common.seq2seq import add_seq2seq_arguments, seq2seq_main, train_seq2seq  # noqa: E402

APP = "summarization"
LEAD_WORDS = 8


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/summarization/train.py",
        description="Fine-tune an encoder-decoder on the shared pretrained text encoder to write a Debian "
                    "package's one-line synopsis from its long description; ROUGE against lead-8.")
    add_seq2seq_arguments(parser, APP, epochs=4, max_train=20000)
    return parser


def rouge_scores(references, predictions):
    """ROUGE-1/2/L F1 x100 (means over examples), stemmed, as `rouge-score` computes them."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for reference, prediction in zip(references, predictions):
        for key, score in scorer.score(reference, prediction).items():
            totals[key] += score.fmeasure
    n = max(len(references), 1)
    return {key: round(100.0 * value / n, 2) for key, value in totals.items()}


def lead(text, words=LEAD_WORDS):
    return " ".join(text.split()[:words])


def run(args):
    from mmpretrain.data.sources import ddtp

    pairs = ddtp.load_summarization_pairs(seed=args.split_seed)
    metrics, _ = train_seq2seq(pairs, args, APP, score=rouge_scores,
                               baselines={"lead8": lambda sources, train: [lead(s) for s in sources]})
    return metrics


def main(argv=None):
    return seq2seq_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
