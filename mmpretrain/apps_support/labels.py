"""Label fractions (stratified, deterministic) and CSV/TSV tables of text and label."""

import csv
import os

import numpy as np

TEXT_COLUMNS = ("text", "sentence", "message", "review", "content", "document", "body")
LABEL_COLUMNS = ("label", "labels", "class", "sentiment", "category", "target", "y")


def check_fraction(fraction, what="label_fraction"):
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{what} must be in (0, 1], e.g. 0.1 for 10% of the labels; received {fraction!r}.")
    return value


def stratified_subset(labels, fraction=1.0, limit=None, seed=0):
    """Sorted indices of a class-stratified, deterministic subset of `labels`.

    Takes `fraction` of each class (at least one example of every class present), then, if
    `limit` is set and still exceeded, scales every class down to fit `limit` in total. The
    same labels, fraction, limit and seed always give the same indices; a smaller fraction
    gives a subset of a larger one's picks (each class is ranked once by a seeded shuffle).
    """
    labels = np.asarray(labels).reshape(-1)
    fraction = check_fraction(fraction)
    if limit is not None and int(limit) < 1:
        raise ValueError(f"The example limit must be a positive integer; received {limit!r}.")
    classes, counts = np.unique(labels, return_counts=True)
    share = fraction
    if limit is not None and fraction * len(labels) > int(limit):
        share = int(limit) / len(labels)
    picked = []
    for cls, count in zip(classes, counts):
        members = np.flatnonzero(labels == cls)
        rng = np.random.default_rng([int(seed), int(np.searchsorted(classes, cls))])
        order = members[rng.permutation(count)]
        take = max(1, int(round(share * count)))
        picked.append(order[:take])
    return np.sort(np.concatenate(picked)) if picked else np.zeros([0], np.int64)


def _delimiter(path, sample):
    if path.lower().endswith(".tsv") or path.lower().endswith(".tab"):
        return "\t"
    if path.lower().endswith(".csv"):
        return ","
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def _column(header, wanted, defaults, path, role, flag):
    names = [h.strip() for h in header]
    if wanted is None:
        for candidate in defaults:
            for i, name in enumerate(names):
                if name.lower() == candidate:
                    return i, name
        raise ValueError(
            f"{path!r}: no {role} column found in the header {names}; expected one named "
            f"{list(defaults)}. Name it with {flag} COLUMN (a header name or a 0-based index)."
        )
    if isinstance(wanted, int) or str(wanted).isdigit():
        index = int(wanted)
        if not 0 <= index < len(names):
            raise ValueError(f"{path!r}: {flag} {index} is out of range; the header has {len(names)} columns {names}.")
        return index, names[index]
    for i, name in enumerate(names):
        if name == str(wanted).strip():
            return i, name
    raise ValueError(f"{path!r}: {flag} {wanted!r} is not in the header {names}; pass one of those or a 0-based index.")


def read_labeled_table(path, text_column=None, label_column=None):
    """A CSV/TSV with a header row -> (texts, label strings), one pair per data row.

    Columns are found by header name (text: TEXT_COLUMNS, label: LABEL_COLUMNS,
    case-insensitive) or given as a name or 0-based index. The delimiter comes from the
    extension (.csv comma, .tsv tab) or is sniffed. Rows with an empty text or label are an
    error naming their line numbers (nothing is silently dropped).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Table {path!r} does not exist. Pass a .csv or .tsv file with a header row, e.g. text,label.")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            content = f.read()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path!r} is not UTF-8 text (byte {err.start}); save it as UTF-8.") from None
    rows = list(csv.reader(content.splitlines(), delimiter=_delimiter(path, content[:4096])))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{path!r} has no data rows; expected a header row (e.g. text,label) and one row per example.")
    header, body = rows[0], rows[1:]
    text_index, text_name = _column(header, text_column, TEXT_COLUMNS, path, "text", "--text-column")
    label_index, label_name = _column(header, label_column, LABEL_COLUMNS, path, "label", "--label-column")
    texts, labels, no_label, no_text = [], [], [], []
    for line, row in enumerate(body, start=2):
        text = row[text_index].strip() if text_index < len(row) else ""
        label = row[label_index].strip() if label_index < len(row) else ""
        if not label:
            no_label.append(line)
        if not text:
            no_text.append(line)
        texts.append(text)
        labels.append(label)
    for missing, role, name in ((no_label, "label", label_name), (no_text, "text", text_name)):
        if missing:
            raise ValueError(
                f"{path!r}: {len(missing)} of {len(body)} rows have no {role} in column {name!r} "
                f"(lines {missing[:10]}{' ...' if len(missing) > 10 else ''}). Every row needs a "
                f"{role}: fill those in or delete the rows."
            )
    if len(set(labels)) < 2:
        raise ValueError(
            f"{path!r}: column {label_name!r} holds one label only ({sorted(set(labels))}); a "
            "classifier needs at least two classes."
        )
    return texts, labels
