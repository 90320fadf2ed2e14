"""Text embeddings and semantic search with the exported encoder (Universal Sentence Encoder style).

    python apps/text_embedding/search.py --query "a wonderful film" --query "a total waste of time"
    python apps/text_embedding/search.py --corpus notes.txt --query "meeting tomorrow" --top-k 3
    python apps/text_embedding/search.py --label-fraction 0.1 --from-scratch     # k-NN accuracy only

Embeds every sentence of the corpus (default: VADER's movie-review training sentences) with
`mmpretrain.tasks.TextEmbedder` (the encoder's `serve_text` pooled_output, unit length) and
prints the corpus sentences closest to each query by cosine similarity. On a labeled corpus it
also measures how much the embeddings know without any training: each test sentence takes the
similarity-weighted vote of its 10 nearest labeled training sentences (metrics.json + a PNG of
the test embeddings in runs/apps/text_embedding/CORPUS/TAG), and scores triplets of test
sentences whose right order is known (`mmpretrain.embedding_triplets`): a sentence vs its lightly
edited copy vs an unrelated one, and vs a same-label vs a different-label sentence, for the
encoder and for TF-IDF. See apps/text_embedding/README.md.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # for apps.common
from apps.common import cli  # noqa: E402

APP, MODALITY = "text_embedding", "text"
DEFAULT_QUERIES = ("A wonderful, moving film.", "A boring waste of time.")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="apps/text_embedding/search.py",
        description="Embed a text collection with the exported encoder and search it by cosine "
                    "similarity; on a labeled corpus, measure k-NN accuracy of the embeddings.")
    cli.add_encoder_argument(parser)
    parser.add_argument("--corpus", default="vader",
                        help="'vader' (default), 'sms-spam', a .csv/.tsv with text and label columns, or a "
                             "text file / folder / glob with one document per line")
    parser.add_argument("--query", action="append", default=None,
                        help=f"a query (repeat for several; default: {list(DEFAULT_QUERIES)})")
    parser.add_argument("--top-k", type=int, default=5, help="hits per query (default 5)")
    parser.add_argument("--no-evaluate", action="store_true", help="skip the k-NN accuracy")
    parser.add_argument("--label-fraction", type=cli.fraction, default=1.0,
                        help="share of the training labels in the k-NN index (default 1.0)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per vote (default 10)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="freshly initialised encoder weights (the baseline for the pretrained ones)")
    parser.add_argument("--max-index", type=cli.cap, default=4000, metavar="N",
                        help="cap on the searched / indexed training sentences (default 4000; 'all')")
    parser.add_argument("--report-dir", default=None, help="where metrics.json and report.png go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1))
    return parser


def load_corpus(corpus="vader", text_column=None, label_column=None, seed=0):
    """A labeled text source (vader, sms-spam, CSV/TSV) or a plain text file (one document per line)."""
    from mmpretrain import data
    from mmpretrain.data.labeled import TEXT_SOURCES, load_text_data

    corpus = os.fspath(corpus)
    if corpus in TEXT_SOURCES or corpus.lower().endswith((".csv", ".tsv")):
        return load_text_data(corpus, text_column, label_column, seed=seed)
    if os.path.exists(corpus):
        return data.load_text_files(corpus, unit="line", seed=seed, fractions=(1.0, 0.0, 0.0))
    raise ValueError(
        f"Unknown corpus {corpus!r}. Accepted: 'vader', 'sms-spam', a .csv/.tsv with text and label "
        "columns, or a text file/folder/glob (one document per line)."
    )


def search(embedder, queries, corpus, top_k=5, corpus_vectors=None):
    """For each query, the `top_k` corpus texts by cosine similarity: [[{"text", "score", "index"}]]."""
    corpus = list(corpus)
    if not corpus:
        raise ValueError("search needs a non-empty corpus of texts.")
    if corpus_vectors is None:
        corpus_vectors = embedder.embed(corpus, what="corpus")
    similarity = embedder.embed(queries, what="query") @ corpus_vectors.T  # [Q, N]
    k = min(int(top_k), len(corpus))
    results = []
    for row in similarity:
        best = np.argsort(-row, kind="stable")[:k]
        results.append([{"text": corpus[i], "score": float(row[i]), "index": int(i)} for i in best])
    return results


def knn_predict(index_vectors, index_labels, query_vectors, num_classes, k=10):
    """Similarity-weighted vote of the k nearest index vectors -> predicted labels [Q]."""
    similarity = query_vectors @ index_vectors.T  # [Q, N]
    k = min(int(k), index_vectors.shape[0])
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]  # [Q, k]
    votes = np.zeros([len(query_vectors), num_classes])
    rows = np.arange(len(query_vectors))
    for j in range(k):
        columns = nearest[:, j]
        np.add.at(votes, (rows, index_labels[columns]), np.maximum(similarity[rows, columns], 0.0) + 1e-6)
    return votes.argmax(axis=1)


def knn_evaluate(embedder, splits, label_fraction=1.0, k=10, max_index=None, max_queries=None, seed=0):
    """Accuracy of k-NN classification of the test split with the training split as index."""
    from apps.common.reports import classification_scores
    from mmpretrain.data.label_fractions import check_fraction, stratified_subset, training_subset

    fraction = check_fraction(label_fraction)
    train_labels = np.asarray(splits.labels("train"))
    pool, index = training_subset(train_labels, fraction, max_index, seed)
    queries = stratified_subset(splits.labels("test"), 1.0, limit=max_queries, seed=seed)
    train_texts, test_texts = splits.texts("train"), splits.texts("test")
    index_vectors = embedder.embed([train_texts[i] for i in index], what="index")
    query_vectors = embedder.embed([test_texts[i] for i in queries], what="test")
    labels = np.asarray(splits.labels("test"))[queries]
    classes = len(splits.class_names)
    scores = classification_scores(labels, knn_predict(index_vectors, train_labels[index], query_vectors, classes, k),
                                   classes)
    return {"label_fraction": fraction, "index_examples": int(len(index)), "index_pool_examples": int(len(pool)),
            "test_examples": int(len(queries)), "k": int(k), "test_accuracy": scores["accuracy"],
            "test_macro_f1": scores["macro_f1"], "majority_baseline": scores["majority_baseline"],
            "confusion_matrix": scores["confusion_matrix"], "class_names": list(splits.class_names),
            "query_vectors": query_vectors, "query_labels": labels}


def ranking_figures(embedder, splits, max_queries=None, seed=0):
    """The triplet figures (`mmpretrain.embedding_triplets`) of the test split: the share of
    triplets ranked right by `embedder` and by TF-IDF (fitted on the test sentences, no labels).

    -> {"encoder": score_triplets(...), "tfidf": score_triplets(...), "test_sentences", "seed"}.
    """
    from mmpretrain.embedding_triplets import build_triplets, score_triplets, tfidf_embedder

    sentences, labels = splits.texts("test"), splits.labels("test")
    if max_queries is not None:
        sentences, labels = sentences[: int(max_queries)], labels[: int(max_queries)]
    triplets = build_triplets(sentences, labels, seed=seed)
    return {"encoder": score_triplets(lambda texts: embedder.embed(texts, what="triplets"), triplets),
            "tfidf": score_triplets(tfidf_embedder(sentences), triplets),
            "test_sentences": len(sentences), "seed": int(seed)}


def run(encoder=None, corpus="vader", queries=DEFAULT_QUERIES, top_k=5, evaluate=True, from_scratch=False,
        label_fraction=1.0, k=10, max_index=4000, max_queries=None, report_dir=None, seed=0,
        text_column=None, label_column=None, splits=None, verbose=1):
    """Searches `queries` in the corpus and (for a labeled corpus) measures k-NN accuracy and
    the triplet figures (`metrics["ranking"]`, see `ranking_figures`).

    Returns {"results": [[{"text", "score", "index"}] per query], "metrics": dict or None}. The
    metrics and a PNG of the test embeddings go to `report_dir` (default
    runs/apps/text_embedding/CORPUS/TAG). `splits`: the corpus loaded already.
    """
    from apps.common.reports import write_projection_png
    from apps.common.training import data_slug, run_tag
    from mmpretrain.embedding_triplets import format_figures
    from mmpretrain.tasks import TextEmbedder, load_encoder

    log = print if verbose else (lambda *a, **kw: None)
    started = time.perf_counter()

    # 1. Model: the exported encoder's pooled output, unit length (fixed: no training)
    embedder = TextEmbedder(load_encoder(encoder, MODALITY, trainable=False, from_scratch=from_scratch,
                                         seed=seed, task=APP))

    # 2. Data: the corpus (its training sentences are searched and indexed)
    if splits is None:
        splits = load_corpus(corpus, text_column, label_column, seed=0)  # split seed 0, as the other apps
    documents = splits.texts("train") if splits.kind == MODALITY else []
    if max_index is not None:
        documents = documents[: int(max_index)]

    # 3. Search by cosine similarity
    results = search(embedder, list(queries), documents, top_k) if queries else []
    for query, hits in zip(queries, results):
        log(f"query: {query!r}")
        for hit in hits:
            log(f"  {hit['score']:.3f}  {hit['text'][:100]}")
    if not (evaluate and splits.labeled):
        return {"results": results, "metrics": None}

    # 4. Evaluation: k-NN accuracy on the test split; metrics.json + a PNG of the test embeddings
    tag = run_tag(from_scratch, False, label_fraction)
    result = knn_evaluate(embedder, splits, label_fraction, k, max_index, max_queries, seed)
    vectors, labels = result.pop("query_vectors"), result.pop("query_labels")
    metrics = {"app": APP, "task": "feature-extraction", "data": str(corpus),
               "encoder": os.path.abspath(embedder.encoder.saved_model_dir),
               "initialization": "scratch" if from_scratch else "pretrained", "tag": tag, **result}
    report_dir = report_dir or os.path.join("runs", "apps", APP, data_slug(corpus), tag)
    metrics["report_png"] = write_projection_png(
        os.path.join(report_dir, "report.png"), vectors, labels, result["class_names"],
        f"text embeddings of the {corpus} test split ({metrics['initialization']}); "
        f"{k}-NN accuracy {result['test_accuracy']:.3f} with {result['index_examples']} labels")
    metrics["ranking"] = ranking = ranking_figures(embedder, splits, max_queries, seed)
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    metrics["metrics_json"] = os.path.join(report_dir, "metrics.json")
    with open(metrics["metrics_json"], "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    log(f"text_embedding [{tag}]: {k}-NN test accuracy {result['test_accuracy']:.4f} "
        f"(majority {result['majority_baseline']:.4f}) with {result['index_examples']} labeled "
        f"sentences as the index; metrics {metrics['metrics_json']}")
    log(f"text_embedding [{tag}]: share of test-sentence triplets ranked right (ties wrong):")
    for line in format_figures({metrics["initialization"]: ranking["encoder"], "TF-IDF": ranking["tfidf"]}):
        log(f"  {line}")
    return {"results": results, "metrics": metrics}


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
        metrics = result["metrics"]
        summary = {k: metrics[k] for k in ("test_accuracy", "index_examples", "test_examples")}
        for figure in ("edited_copy", "same_label"):
            if metrics["ranking"]["encoder"][figure]:
                summary[figure] = metrics["ranking"]["encoder"][figure]["score"]
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
