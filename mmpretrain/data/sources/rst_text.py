"""reStructuredText (the Python docs' sources) -> plain paragraphs, markup stripped."""

import re

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
