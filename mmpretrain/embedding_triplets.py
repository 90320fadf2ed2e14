"""Text-embedding figures that mean something: triplets whose right order is known, scored.

    triplets = build_triplets(sentences, labels, seed=0)      # held-out sentences only
    score_triplets(TextEmbedder(encoder).embed, triplets)     # {"edited_copy": {"score", ...}, ...}
    score_triplets(tfidf_embedder(sentences), triplets)       # the non-neural anchor
    encoder_figures("saved_models/mmpretrain_tiny")["figures"]  # pretrained vs scratch vs TF-IDF

A triplet is (anchor, positive, negative); an embedding ranks it right when
cos(anchor, positive) > cos(anchor, negative), strictly: a tie (a constant embedder, or an
edit the encoder does not see) counts as wrong, so a constant embedder scores 0, not 0.5.
A figure is the share of triplets ranked right; chance (a random embedder) is 0.5.

* edited_copy: the positive is the anchor lightly edited, the negative another random sentence.
  One edit per anchor, in its first `window` words (so an encoder that reads only the first
  tokens still sees it), chosen to keep the meaning:
    drop    one word removed (never a negation: not, no, never, ...n't, ...)
    swap    two adjacent, different words exchanged (neither a negation)
    repeat  one word written twice in place
  Words are the whitespace-separated pieces; the copy is joined with single spaces. Anchors
  have at least `min_words` words. It measures whether near-duplicates land near each other.
* same_label: the positive is another sentence with the anchor's label, the negative one with
  another label. On sentiment data it measures the sentiment the embeddings hold.

Every anchor is a different sentence, in a random order drawn from `seed` (all eligible ones,
or the first `count`); the same sentences, labels and seed give the same triplets.
"""

import numpy as np

RULES = ("drop", "swap", "repeat")
NEGATIONS = frozenset({"not", "no", "never", "nor", "none", "nobody", "nothing", "nowhere", "neither",
                       "without", "cannot", "hardly", "barely"})
CHANCE = 0.5
FIGURES = ("edited_copy", "same_label")


def is_negation(word):
    """True for a word that flips the meaning when dropped or moved (not, never, isn't, ...)."""
    word = word.lower().strip(".,;:!?\"'()[]")
    return word in NEGATIONS or word.endswith(("n't", "n’t"))


def edit_positions(words, rule, window=12):
    """The positions where `rule` may edit `words` (within the first `window` words)."""
    span = range(min(len(words), int(window)))
    if rule == "drop":
        return [i for i in span if not is_negation(words[i])]
    if rule == "swap":
        return [i for i in span if i + 1 < len(span) and words[i] != words[i + 1]
                and not (is_negation(words[i]) or is_negation(words[i + 1]))]
    if rule == "repeat":
        return list(span)
    raise ValueError(f"Unknown edit rule {rule!r}; rules: {list(RULES)}.")


def apply_edit(words, rule, position):
    """`words` with `rule` applied at `position` -> the edited list of words."""
    words = list(words)
    if rule == "drop":
        del words[position]
    elif rule == "swap":
        words[position], words[position + 1] = words[position + 1], words[position]
    elif rule == "repeat":
        words.insert(position, words[position])
    else:
        raise ValueError(f"Unknown edit rule {rule!r}; rules: {list(RULES)}.")
    return words


def _other(rng, candidates, sentences, anchor):
    """A random index of `candidates` whose sentence differs from the anchor's (or None)."""
    candidates = [i for i in candidates if sentences[i] != sentences[anchor]]
    return int(candidates[rng.integers(len(candidates))]) if candidates else None


def edit_triplets(sentences, count=None, seed=0, window=12, min_words=4):
    """(anchor, its lightly edited copy, an unrelated sentence) triplets; see the module doc.

    Returns dicts {"anchor", "positive", "negative" (texts), "anchor_index", "negative_index",
    "rule", "position"}.
    """
    sentences = [str(s) for s in sentences]
    rng = np.random.default_rng(seed)
    everyone = np.arange(len(sentences))
    triplets = []
    for anchor in rng.permutation(len(sentences)):
        if count is not None and len(triplets) >= int(count):
            break
        words = sentences[anchor].split()
        if len(words) < int(min_words):
            continue
        first = int(rng.integers(len(RULES)))  # the drawn rule, or the next that applies
        for rule in RULES[first:] + RULES[:first]:
            positions = edit_positions(words, rule, window)
            if positions:
                break
        if not positions:
            continue
        position = int(positions[rng.integers(len(positions))])
        negative = _other(rng, everyone, sentences, anchor)
        if negative is None:
            continue
        triplets.append({"anchor": sentences[anchor], "positive": " ".join(apply_edit(words, rule, position)),
                         "negative": sentences[negative], "anchor_index": int(anchor),
                         "negative_index": negative, "rule": rule, "position": position})
    return triplets


def label_triplets(sentences, labels, count=None, seed=0):
    """(anchor, a same-label sentence, a different-label sentence) triplets.

    Returns dicts {"anchor", "positive", "negative" (texts), "anchor_index", "positive_index",
    "negative_index", "label"}.
    """
    sentences, labels = [str(s) for s in sentences], np.asarray(labels)
    if len(sentences) != len(labels):
        raise ValueError(f"label_triplets needs one label per sentence; received {len(sentences)} "
                         f"sentences and {len(labels)} labels.")
    rng = np.random.default_rng(seed)
    triplets = []
    for anchor in rng.permutation(len(sentences)):
        if count is not None and len(triplets) >= int(count):
            break
        same = np.flatnonzero(labels == labels[anchor])
        positive = _other(rng, same[same != anchor], sentences, anchor)
        negative = _other(rng, np.flatnonzero(labels != labels[anchor]), sentences, anchor)
        if positive is None or negative is None:
            continue
        triplets.append({"anchor": sentences[anchor], "positive": sentences[positive],
                         "negative": sentences[negative], "anchor_index": int(anchor),
                         "positive_index": positive, "negative_index": negative,
                         "label": labels[anchor].item()})
    return triplets


def build_triplets(sentences, labels=None, count=None, seed=0, window=12):
    """{"edited_copy": [...], "same_label": [...] (empty without labels)} from held-out sentences."""
    return {"edited_copy": edit_triplets(sentences, count, seed, window),
            "same_label": [] if labels is None else label_triplets(sentences, labels, count, seed)}


def _cosines(vectors, left, right):
    """cos(vectors[left[k]], vectors[right[k]]) per k; a zero vector has cosine 0 with anything.
    `vectors`: a numpy array or a scipy sparse matrix, one row per text."""
    if hasattr(vectors, "multiply"):  # scipy sparse
        dots = np.asarray(vectors[left].multiply(vectors[right]).sum(axis=1)).ravel()
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    else:
        vectors = np.asarray(vectors, np.float64)
        dots = np.einsum("kd,kd->k", vectors[left], vectors[right])
        norms = np.linalg.norm(vectors, axis=1)
    scale = norms[left] * norms[right]
    return np.divide(dots, scale, out=np.zeros_like(dots, dtype=np.float64), where=scale > 0)


def triplet_cosines(embed, triplets):
    """(cos(anchor, positive), cos(anchor, negative)) per triplet: two float64 arrays [T].
    `embed`: list of texts -> vectors [N, D] (e.g. `TextEmbedder.embed`); each distinct text
    is embedded once."""
    if not triplets:
        return np.zeros([0]), np.zeros([0])
    texts = list(dict.fromkeys(t[key] for t in triplets for key in ("anchor", "positive", "negative")))
    row = {text: i for i, text in enumerate(texts)}
    vectors = embed(texts)
    if len(texts) != vectors.shape[0]:
        raise ValueError(f"The embedder returned {vectors.shape[0]} vectors for {len(texts)} texts.")
    anchor, positive, negative = (np.asarray([row[t[key]] for t in triplets]) for key in
                                  ("anchor", "positive", "negative"))
    return _cosines(vectors, anchor, positive), _cosines(vectors, anchor, negative)


def ranked_right(embed, triplets):
    """bool [T]: cos(anchor, positive) > cos(anchor, negative) per triplet (ties are wrong)."""
    positive, negative = triplet_cosines(embed, triplets)
    return positive > negative


def _figure(positive, negative):
    right = positive > negative
    return {"score": round(float(np.mean(right)), 4) if len(right) else None, "triplets": int(len(right)),
            "ranked_right": int(np.sum(right)), "ties": int(np.sum(positive == negative))}


def score_triplets(embed, triplets):
    """The figures of `embed` on `build_triplets`' output: {"edited_copy": {"score", "triplets",
    "ranked_right", "ties", "by_rule"}, "same_label": {...} or None, "chance": 0.5}."""
    edits = triplets["edited_copy"]
    positive, negative = triplet_cosines(embed, edits + triplets["same_label"])
    cut = len(edits)
    figures = {"edited_copy": _figure(positive[:cut], negative[:cut]), "same_label": None, "chance": CHANCE}
    figures["edited_copy"]["by_rule"] = {}
    for rule in RULES:
        chosen = np.asarray([t["rule"] == rule for t in edits], bool)
        figures["edited_copy"]["by_rule"][rule] = _figure(positive[:cut][chosen], negative[:cut][chosen])
    if triplets["same_label"]:
        figures["same_label"] = _figure(positive[cut:], negative[cut:])
    return figures


def tfidf_embedder(fit_texts):
    """The non-neural anchor: texts -> TF-IDF bag-of-words rows (scikit-learn, word unigrams,
    lower case), the vocabulary and IDF fitted (without labels) on `fit_texts`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(lowercase=True).fit([str(t) for t in fit_texts])
    return lambda texts: vectorizer.transform([str(t) for t in texts])


def format_figures(results):
    """Lines of a small table: one line per figure, one column per embedder, and chance.
    `results`: {embedder name: score_triplets(...)}."""
    names = list(results)
    lines = [f"{'figure':<14}{'triplets':>9}" + "".join(f"{n:>12}" for n in names) + f"{'chance':>8}"]
    for figure in FIGURES:
        cells = [results[n][figure] for n in names]
        if all(c is None for c in cells):
            continue
        counts = {c["triplets"] for c in cells if c}
        scores = "".join("           -" if c is None else f"{c['score']:>12.4f}" for c in cells)
        lines.append(f"{figure:<14}{'/'.join(map(str, sorted(counts))):>9}{scores}{CHANCE:>8.2f}")
    return lines


def encoder_figures(encoder=None, data="vader", count=None, seed=0):
    """The figures of a text encoder (pretrained) vs the same graph with fresh weights (scratch,
    seeded) vs TF-IDF, on the test split of `data` (its seed-0 split: held out from the encoder's
    pretraining). -> {"figures": {"pretrained", "scratch", "TF-IDF" (left out without
    scikit-learn): score_triplets(...)}, "test_sentences", "seed", "seconds"}."""
    import time

    from mmpretrain.data.labeled import load_text_data
    from mmpretrain.tasks import TextEmbedder, load_encoder

    started = time.perf_counter()
    splits = load_text_data(data)
    sentences, labels = splits.texts("test"), splits.labels("test")
    triplets = build_triplets(sentences, labels, count, seed)
    figures = {}
    for init in ("pretrained", "scratch"):
        layer = load_encoder(encoder, "text", trainable=False, from_scratch=init == "scratch", seed=seed)
        figures[init] = score_triplets(TextEmbedder(layer).embed, triplets)
    try:
        figures["TF-IDF"] = score_triplets(tfidf_embedder(sentences), triplets)
    except ImportError:  # scikit-learn is not a dependency of the library
        pass
    return {"figures": figures, "test_sentences": len(sentences), "seed": int(seed),
            "seconds": round(time.perf_counter() - started, 2)}
