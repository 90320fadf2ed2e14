"""Text embeddings and semantic search with an exported encoder (like the Universal Sentence Encoder).

    embed = TextEmbedder("saved_models/mmpretrain_tiny")
    vectors = embed(["This is a great movie!", "What a waste of time."])   # [2, D], unit length
    hits = search(embed, ["a wonderful film"], corpus, top_k=5)            # cosine similarity

An embedding is the encoder's `pooled_output` (mean over real tokens of the last layer) scaled
to unit length, so a dot product is the cosine similarity.

How good are they? `knn_evaluate` classifies each test sentence of a labeled corpus by a
similarity-weighted vote of its k nearest training sentences (no training at all): accuracy with
10% or 100% of the training labels as the index, pretrained vs the same encoder freshly
initialised.
"""

import json
import os
import time

import numpy as np

APP = "text_embedding"


class TextEmbedder:
    """Strings -> unit-length float32 [N, D] embeddings with an encoder's `serve_text`.

    Args:
        encoder: encoder SavedModel (NAME dir or NAME/VERSION); default saved_models/mmpretrain_tiny.
        from_scratch: freshly initialised weights instead of the pretrained ones (a baseline).
        batch_size: strings per call of the encoder.
    """

    def __init__(self, encoder=None, from_scratch=False, seed=0, batch_size=64):
        from mmpretrain.apps_support.encoder_weights import reinitialize
        from mmpretrain.apps_support.models import require_modality, resolve_encoder
        from mmpretrain.export.trainable_encoder import load_encoder_layer

        self.encoder_dir, self.config = resolve_encoder(encoder)
        require_modality(self.config, "text", APP, self.encoder_dir)
        self.layer = load_encoder_layer(self.encoder_dir, "serve_text", trainable=False)
        if from_scratch:
            reinitialize(self.layer, self.config, seed)
        self.from_scratch = bool(from_scratch)
        self.batch_size = int(batch_size)

    def __call__(self, texts):
        import tensorflow as tf

        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise ValueError("TextEmbedder received no texts; pass a string or a non-empty list of strings.")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise ValueError(
                f"TextEmbedder embeds strings; items {bad[:5]} are {type(texts[bad[0]]).__name__}.")
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = tf.constant([t.encode("utf-8") for t in texts[start : start + self.batch_size]], tf.string)
            out.append(np.asarray(self.layer(batch)["pooled_output"], np.float32))
        vectors = np.concatenate(out)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def search(embed, queries, corpus, top_k=5, corpus_vectors=None):
    """For each query, the `top_k` corpus texts by cosine similarity: [[{"text", "score", "index"}]]."""
    if isinstance(queries, str):
        queries = [queries]
    corpus = list(corpus)
    if not corpus:
        raise ValueError("search needs a non-empty corpus of texts.")
    if corpus_vectors is None:
        corpus_vectors = embed(corpus)
    similarity = embed(list(queries)) @ corpus_vectors.T  # [Q, N]
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
    for j in range(k):
        columns = nearest[:, j]
        np.add.at(votes, (np.arange(len(query_vectors)), index_labels[columns]),
                  np.maximum(similarity[np.arange(len(query_vectors)), columns], 0.0) + 1e-6)
    return votes.argmax(axis=1)


def knn_evaluate(embed, splits, label_fraction=1.0, k=10, max_index=None, max_queries=None, seed=0):
    """Accuracy of k-NN classification of the test split with the training split as index."""
    from mmpretrain.apps_support.labels import check_fraction, stratified_subset
    from mmpretrain.apps_support.reports import classification_scores

    fraction = check_fraction(label_fraction)
    train_labels = np.asarray(splits.labels("train"))
    pool = stratified_subset(train_labels, 1.0, limit=max_index, seed=seed)
    index = pool[stratified_subset(train_labels[pool], fraction, seed=seed)]
    queries = stratified_subset(splits.labels("test"), 1.0, limit=max_queries, seed=seed)
    train_texts, test_texts = splits.texts("train"), splits.texts("test")
    index_vectors = embed([train_texts[i] for i in index])
    query_vectors = embed([test_texts[i] for i in queries])
    labels = np.asarray(splits.labels("test"))[queries]
    k_classes = len(splits.class_names)
    predictions = knn_predict(index_vectors, train_labels[index], query_vectors, k_classes, k)
    scores = classification_scores(labels, predictions, k_classes)
    return {"label_fraction": fraction, "index_examples": int(len(index)), "index_pool_examples": int(len(pool)),
            "test_examples": int(len(queries)), "k": int(k), "test_accuracy": scores["accuracy"],
            "test_macro_f1": scores["macro_f1"], "majority_baseline": scores["majority_baseline"],
            "confusion_matrix": scores["confusion_matrix"], "class_names": list(splits.class_names),
            "query_vectors": query_vectors, "query_labels": labels}


def write_projection_png(path, vectors, labels, class_names, title):
    """Test embeddings projected on their first two principal components, coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centered = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    points = centered @ components[:2].T
    fig, axis = plt.subplots(figsize=(6, 5))
    for i, name in enumerate(class_names):
        chosen = labels == i
        axis.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, label=str(name))
    axis.set_xlabel("principal component 1")
    axis.set_ylabel("principal component 2")
    axis.legend(fontsize=8, markerscale=2)
    axis.set_title(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_text_embedding(encoder=None, corpus="vader", queries=(), top_k=5, evaluate=True, from_scratch=False,
                       label_fraction=1.0, k=10, max_index=4000, max_queries=None, report_dir=None, seed=0,
                       text_column=None, label_column=None, splits=None, verbose=1):
    """Search `queries` in the corpus and (for a labeled corpus) measure k-NN accuracy.

    Returns {"results": [[hit, ...] per query], "metrics": {...} or None}. The metrics and a
    PNG of the test embeddings go to `report_dir` (default runs/apps/text_embedding/CORPUS/TAG).
    """
    from mmpretrain.apps_support.classifier_app import run_tag

    log = print if verbose else (lambda *a, **k: None)
    started = time.perf_counter()
    embed = TextEmbedder(encoder, from_scratch=from_scratch, seed=seed)
    if splits is None:
        splits = load_corpus(corpus, text_column, label_column, seed)
    documents = splits.texts("train") if splits.kind == "text" else []
    if max_index is not None:
        documents = documents[: int(max_index)]
    results = search(embed, list(queries), documents, top_k) if queries else []
    for query, hits in zip(queries, results):
        log(f"query: {query!r}")
        for hit in hits:
            log(f"  {hit['score']:.3f}  {hit['text'][:100]}")
    metrics = None
    if evaluate and splits.labeled:
        tag = run_tag(from_scratch, False, label_fraction)
        result = knn_evaluate(embed, splits, label_fraction, k, max_index, max_queries, seed)
        vectors, labels = result.pop("query_vectors"), result.pop("query_labels")
        metrics = {"app": APP, "task": "feature-extraction", "data": str(corpus), "encoder": os.path.abspath(embed.encoder_dir),
                   "initialization": "scratch" if from_scratch else "pretrained", "tag": tag, **result}
        from mmpretrain.apps_support.classifier_app import data_slug

        report_dir = report_dir or os.path.join("runs", "apps", APP, data_slug(corpus), tag)
        metrics["report_png"] = write_projection_png(
            os.path.join(report_dir, "report.png"), vectors, labels, result["class_names"],
            f"text embeddings of the {corpus} test split ({metrics['initialization']}); "
            f"{k}-NN accuracy {result['test_accuracy']:.3f} with {result['index_examples']} labels")
        metrics["seconds"] = round(time.perf_counter() - started, 2)
        metrics["metrics_json"] = os.path.join(report_dir, "metrics.json")
        with open(metrics["metrics_json"], "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
        log(f"text_embedding [{tag}]: {k}-NN test accuracy {result['test_accuracy']:.4f} "
            f"(majority {result['majority_baseline']:.4f}) with {result['index_examples']} labeled "
            f"sentences as the index; metrics {metrics['metrics_json']}")
    return {"results": results, "metrics": metrics}


def load_corpus(corpus="vader", text_column=None, label_column=None, seed=0):
    """A labeled text source (vader, sms-spam, CSV/TSV) or a plain text file (one document per line)."""
    from mmpretrain import data
    from mmpretrain.apps_support.app_data import load_text_data

    corpus = os.fspath(corpus)
    if corpus in ("vader", "sms-spam") or corpus.lower().endswith((".csv", ".tsv")):
        return load_text_data(corpus, text_column, label_column, seed=seed)
    if os.path.exists(corpus):
        return data.load_text_files(corpus, unit="line", seed=seed, fractions=(1.0, 0.0, 0.0))
    raise ValueError(
        f"Unknown corpus {corpus!r}. Accepted: 'vader', 'sms-spam', a .csv/.tsv with text and label "
        "columns, or a text file/folder/glob (one document per line)."
    )
