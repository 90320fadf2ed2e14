"""Text embeddings and semantic search with the exported encoder (Universal Sentence Encoder style).

    python apps/text_embedding/search.py --query "a wonderful film" --query "a total waste of time"
    python apps/text_embedding/search.py --corpus notes.txt --query "meeting tomorrow" --top-k 3
    python apps/text_embedding/search.py --label-fraction 0.1 --from-scratch     # k-NN accuracy only

Embeds every sentence of the corpus (default: VADER's movie-review training sentences) with the
encoder's `serve_text` (pooled_output, unit length) and prints the corpus sentences closest to
each query by cosine similarity. On a labeled corpus it also measures how much the embeddings
know without any training: each test sentence takes the similarity-weighted vote of its 10
nearest labeled training sentences (metrics.json + a PNG of the test embeddings in
runs/apps/text_embedding/CORPUS/TAG). See apps/text_embedding/README.md.
"""

import argparse
import json
import sys

APP = "text_embedding"
DEFAULT_QUERIES = ("A wonderful, moving film.", "A boring waste of time.")


def build_parser():
    from mmpretrain.apps_support.cli import _cap, _fraction, add_encoder_argument

    parser = argparse.ArgumentParser(
        prog="apps/text_embedding/search.py",
        description="Embed a text collection with the exported encoder and search it by cosine "
                    "similarity; on a labeled corpus, measure k-NN accuracy of the embeddings.")
    add_encoder_argument(parser)
    parser.add_argument("--corpus", default="vader",
                        help="'vader' (default), 'sms-spam', a .csv/.tsv with text and label columns, or a "
                             "text file / folder / glob with one document per line")
    parser.add_argument("--query", action="append", default=None,
                        help=f"a query (repeat for several; default: {list(DEFAULT_QUERIES)})")
    parser.add_argument("--top-k", type=int, default=5, help="hits per query (default 5)")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the k-NN accuracy")
    parser.add_argument("--label-fraction", type=_fraction, default=1.0,
                        help="share of the training labels in the k-NN index (default 1.0)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per vote (default 10)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="freshly initialised encoder weights (the baseline for the pretrained ones)")
    parser.add_argument("--max-index", type=_cap, default=4000, metavar="N",
                        help="cap on the searched / indexed training sentences (default 4000; 'all')")
    parser.add_argument("--report-dir", default=None, help="where metrics.json and report.png go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1))
    return parser


def run(encoder=None, corpus="vader", queries=DEFAULT_QUERIES, top_k=5, evaluate=True, **options):
    """Returns {"results": [[{"text", "score", "index"}] per query], "metrics": dict or None}.

    `options`: from_scratch, label_fraction, k, max_index, max_queries, report_dir, seed,
    text_column, label_column, verbose.
    """
    from mmpretrain.apps_support.text_embedding import run_text_embedding

    return run_text_embedding(encoder, corpus=corpus, queries=list(queries), top_k=top_k, evaluate=evaluate, **options)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        result = run(args.encoder, args.corpus, args.query or DEFAULT_QUERIES, args.top_k, not args.no_evaluate,
                     from_scratch=args.from_scratch, label_fraction=args.label_fraction, k=args.k,
                     max_index=args.max_index, report_dir=args.report_dir, seed=args.seed, verbose=args.verbose)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result["metrics"]:
        print(json.dumps({k: result["metrics"][k] for k in ("test_accuracy", "index_examples", "test_examples")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
