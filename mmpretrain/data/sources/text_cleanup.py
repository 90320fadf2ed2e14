"""Plain-text cleanup shared by every text source: whitespace, the prose test, deduplication.

Documents with fewer than 3 words or with less than 60% letters among their non-space characters
(code, tables, ASCII art) are not prose. Duplicates are the same text up to case and whitespace.
"""

MIN_WORDS = 3
MIN_LETTER_RATIO = 0.6


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
