"""Debian package descriptions and their translations (DDTP): real text pairs from the apt lists.

    mmpretrain data prepare ddtp                      # apt-get update into the cache (en, de, fr)
    pairs = load_summarization_pairs()                # long description -> its one-line synopsis
    pairs = load_translation_pairs("de")              # English synopses -> German synopses
    pairs = load_translation_pairs("fr", unit="paragraph")
    pairs.sources("train"), pairs.targets("train")    # lists of str; splits train/validation/test

Every Debian package has a synopsis (one line) and a long description (paragraphs), both in
`Translation-en`, keyed by `Description-md5`; the Debian Description Translation Project's
`Translation-de` / `Translation-fr` give the same descriptions in German and French under the
same md5. `Packages` names each binary package's source package.

Splits are grouped: a description belongs to the family of its source package, and families
that share a first paragraph are merged (union-find), so the `-dev`, `-doc`, `-data` and
`python3-` siblings of one program, which repeat each other's bodies, never straddle splits.
A family goes to train/validation/test by a stable hash of its name with `seed` (80/10/10).
Each distinct description is one example (several packages may share it).

Cleaning: a body line " ." is a paragraph break; lines are joined with spaces and runs of
whitespace squeezed. Summarization keeps bodies of at least `min_body_words` (20) words.
"""

import dataclasses
import gzip
import json
import pathlib

from mmpretrain.atomic_files import atomic_write_bytes
from mmpretrain.data.cache import cache_dir
from mmpretrain.data.fetch import AptLists, read_apt_list
from mmpretrain.data.splits import DEFAULT_FRACTIONS, SPLIT_NAMES, assign_split

PACKAGE = AptLists("ddtp", "ddtp", languages=("en", "de", "fr"))
LANGUAGES = ("de", "fr")  # translation targets; English is the source side
UNITS = ("synopsis", "paragraph")
PROCESSED = "descriptions.jsonl.gz"
PROCESSED_FORMAT = 1
MIN_BODY_WORDS = 20


def parse_stanzas(text):
    """Debian control-file text -> list of {field: value}; continuation lines keep their
    leading space and join the field's value with newlines."""
    stanzas, fields, key = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                stanzas.append(fields)
            fields, key = {}, None
        elif line[0] in " \t" and key is not None:
            fields[key] += "\n" + line
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    if fields:
        stanzas.append(fields)
    return stanzas


def split_description(value):
    """A Description-xx value -> (synopsis, [paragraphs]), whitespace squeezed."""
    lines = value.split("\n")
    synopsis = " ".join(lines[0].split())
    paragraphs, current = [], []
    for line in lines[1:]:
        if line.strip() == ".":
            if current:
                paragraphs.append(" ".join(current))
            current = []
        else:
            words = line.split()
            if words:
                current.append(" ".join(words))
    if current:
        paragraphs.append(" ".join(current))
    return synopsis, paragraphs


def source_family(package, source=None):
    """The family a binary package belongs to: its source package's name (or its own)."""
    name = (source or package).split(" ")[0].strip()
    return name or package


def read_descriptions(translations, packages_texts=()):
    """{md5: record} from the lists' texts: `translations` {lang: [Translation-xx texts]}.

    A record: {"md5", "packages": [names], "families": [source families], "en": {"synopsis",
    "paragraphs"}, "de": ..., "fr": ...} (a language is absent when untranslated).
    """
    source_of = {}
    for text in packages_texts:
        for stanza in parse_stanzas(text):
            if "Package" in stanza:
                source_of.setdefault(stanza["Package"], stanza.get("Source"))
    records = {}
    for lang in ["en", *[lang for lang in translations if lang != "en"]]:
        for text in translations.get(lang, []):
            for stanza in parse_stanzas(text):
                md5, value = stanza.get("Description-md5"), stanza.get(f"Description-{lang}")
                package = stanza.get("Package")
                if not md5 or value is None or not package:
                    continue
                if lang != "en" and md5 not in records:
                    continue  # a translation of a description this release no longer has
                record = records.setdefault(md5, {"md5": md5, "packages": [], "families": []})
                if lang == "en" and package not in record["packages"]:
                    record["packages"].append(package)
                    family = source_family(package, source_of.get(package))
                    if family not in record["families"]:
                        record["families"].append(family)
                if lang not in record:
                    synopsis, paragraphs = split_description(value)
                    record[lang] = {"synopsis": synopsis, "paragraphs": paragraphs}
    return records


def group_families(records):
    """{md5: group name}: families merged when they share a description or a first paragraph."""
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_paragraph_owner = {}
    for md5 in sorted(records):
        record = records[md5]
        families = record["families"] or [md5]
        for family in families[1:]:
            union(families[0], family)
        paragraphs = record["en"]["paragraphs"]
        if paragraphs:
            key = paragraphs[0].lower()
            if key in first_paragraph_owner:
                union(first_paragraph_owner[key], families[0])
            else:
                first_paragraph_owner[key] = families[0]
    return {md5: find((records[md5]["families"] or [md5])[0]) for md5 in records}


def processed_path(root=None):
    return cache_dir(root) / PACKAGE.folder / PROCESSED


def build_processed(root=None):
    """Parses the fetched lists into `<cache>/ddtp/descriptions.jsonl.gz` (atomic write)."""
    translations = {lang: PACKAGE.read(f"Translation-{lang}", root) for lang in PACKAGE.languages}
    records = read_descriptions(translations, PACKAGE.read("Packages", root))
    groups = group_families(records)
    lines = [json.dumps({"format": PROCESSED_FORMAT, "descriptions": len(records)})]
    for md5 in sorted(records):
        lines.append(json.dumps(dict(records[md5], group=groups[md5]), ensure_ascii=False))
    atomic_write_bytes(processed_path(root), gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), 6,
                                                           mtime=0))
    return records


def load_records(root=None):
    """The processed description records (built from the lists on first use)."""
    path = processed_path(root)
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            header = json.loads(f.readline())
            if header.get("format") == PROCESSED_FORMAT:
                return [json.loads(line) for line in f if line.strip()]
    PACKAGE.locate(root)  # a clear SourceMissingError before any parsing
    build_processed(root)
    return load_records(root)


@dataclasses.dataclass
class PairSplits:
    """Text pairs per split: `pairs[split]` is a list of (source, target) strings; `groups[split]`
    the family group of each pair (the unit of the split); `counts` facts about the source."""

    task: str
    pairs: dict
    groups: dict
    counts: dict

    @property
    def split_names(self):
        return list(self.pairs)

    def _check(self, split):
        if split not in self.pairs:
            raise ValueError(f"No split {split!r}; this data has {self.split_names}.")

    def sources(self, split):
        self._check(split)
        return [s for s, _ in self.pairs[split]]

    def targets(self, split):
        self._check(split)
        return [t for _, t in self.pairs[split]]

    def __len__(self):
        return sum(len(p) for p in self.pairs.values())

    def __repr__(self):
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.pairs.items())
        return f"PairSplits({self.task}: {sizes})"


def _split_pairs(task, items, seed, fractions, counts):
    """items: (group, source, target) -> PairSplits, each group in one split."""
    pairs = {name: [] for name in SPLIT_NAMES}
    groups = {name: [] for name in SPLIT_NAMES}
    seen = set()
    for group, source, target in items:
        key = (source.lower(), target.lower())
        if key in seen or not source or not target:
            continue
        seen.add(key)
        split = assign_split(f"ddtp|{group}", seed, fractions)
        pairs[split].append((source, target))
        groups[split].append(group)
    counts = dict(counts, **{name: len(p) for name, p in pairs.items()},
                  groups=len({g for gs in groups.values() for g in gs}))
    return PairSplits(task, pairs, groups, counts)


def summarization_items(records, min_body_words=MIN_BODY_WORDS):
    """(group, body, synopsis) of every description whose body has >= `min_body_words` words."""
    items = []
    for record in records:
        body = " ".join(record["en"]["paragraphs"])
        if len(body.split()) >= min_body_words and record["en"]["synopsis"]:
            items.append((record["group"], body, record["en"]["synopsis"]))
    return items


def translation_items(records, language, unit="synopsis"):
    """(group, English, `language`) pairs: synopses, or paragraphs where both sides have the
    same number of paragraphs (paragraph i of one is the translation of paragraph i)."""
    if language not in LANGUAGES:
        raise ValueError(f"Received language {language!r}. Expected one of {list(LANGUAGES)} "
                         "(translations from English).")
    if unit not in UNITS:
        raise ValueError(f"Received unit {unit!r}. Expected one of {list(UNITS)}.")
    items = []
    for record in records:
        other = record.get(language)
        if not other:
            continue
        if unit == "synopsis":
            items.append((record["group"], record["en"]["synopsis"], other["synopsis"]))
        elif len(other["paragraphs"]) == len(record["en"]["paragraphs"]):
            items.extend((record["group"], en, xx)
                         for en, xx in zip(record["en"]["paragraphs"], other["paragraphs"]))
    return items


def load_summarization_pairs(seed=0, fractions=DEFAULT_FRACTIONS, root=None, records=None,
                             min_body_words=MIN_BODY_WORDS):
    """PairSplits of (long description, synopsis), grouped by source-package family."""
    records = load_records(root) if records is None else records
    items = summarization_items(records, min_body_words)
    return _split_pairs("summarization", items, seed, fractions,
                        {"descriptions": len(records), "min_body_words": min_body_words})


def load_translation_pairs(language, unit="synopsis", seed=0, fractions=DEFAULT_FRACTIONS, root=None,
                           records=None):
    """PairSplits of (English, `language`) synopses or paragraphs, grouped like summarization."""
    records = load_records(root) if records is None else records
    items = translation_items(records, language, unit)
    return _split_pairs(f"translation_en_to_{language}", items, seed, fractions,
                        {"descriptions": len(records), "unit": unit})


def records_from_files(files):
    """Description records (with their groups) parsed straight from the list files `files`."""
    by_kind = {}
    for path in files:
        name = pathlib.Path(path).name
        kind = "Packages" if name.endswith(("_Packages", "_Packages.lz4", "_Packages.xz", "_Packages.gz")) else None
        if "_i18n_Translation-" in name:
            kind = "Translation-" + name.split("_i18n_Translation-")[1].split(".")[0]
        if kind:
            by_kind.setdefault(kind, []).append(path)
    texts = {kind: [read_apt_list(p) for p in paths] for kind, paths in by_kind.items()}
    translations = {k.split("-", 1)[1]: v for k, v in texts.items() if k.startswith("Translation-")}
    records = read_descriptions(translations, texts.get("Packages", []))
    groups = group_families(records)
    return [dict(records[md5], group=groups[md5]) for md5 in sorted(records)]


def training_texts(files, seed=0, fractions=DEFAULT_FRACTIONS, language="en"):
    """Synopses and paragraphs in `language` of the descriptions whose group is in the train split."""
    documents = []
    for record in records_from_files(files):
        text = record.get(language)
        if text and assign_split(f"ddtp|{record['group']}", seed, fractions) == "train":
            documents.append(text["synopsis"])
            documents.extend(text["paragraphs"])
    return documents


def count(root=None):
    """What `mmpretrain data list` shows for ddtp."""
    records = load_records(root)
    summaries = load_summarization_pairs(root=root, records=records)
    out = {"descriptions": len(records), "summarization": len(summaries)}
    for lang in LANGUAGES:
        out[f"en-{lang}"] = len(translation_items(records, lang))
    return out
