"""The text-embedding triplet figures (mmpretrain.embedding_triplets) on VADER's test sentences,
with TF-IDF, constant and random embedders, and with the tiny real encoder through the app."""

import json
import zlib

import numpy as np
import pytest

from mmpretrain.embedding_triplets import (
    RULES,
    build_triplets,
    edit_triplets,
    is_negation,
    label_triplets,
    score_triplets,
    tfidf_embedder,
)


@pytest.fixture(scope="module")
def vader_test():
    """(sentences, labels) of VADER's test split (seed 0), fetched if missing."""
    from mmpretrain.data import get_source, prepare
    from mmpretrain.data.labeled import load_text_data

    if not get_source("vader").package.present():
        result = prepare(["vader"], log=lambda message: None)["vader"]
        if result not in ("present", "fetched"):
            pytest.skip(f"could not fetch vader: {result}")
    splits = load_text_data("vader")
    return splits.texts("test"), np.asarray(splits.labels("test"))


def test_triplets_are_the_same_for_a_seed_and_differ_across_seeds(vader_test):
    sentences, labels = vader_test
    first, again = build_triplets(sentences, labels, seed=3), build_triplets(sentences, labels, seed=3)
    assert first == again
    other = build_triplets(sentences, labels, seed=4)
    assert [t["anchor"] for t in first["edited_copy"]] != [t["anchor"] for t in other["edited_copy"]]
    assert [t["positive"] for t in first["same_label"]] != [t["positive"] for t in other["same_label"]]
    # `count` keeps the first triplets of the same order
    assert edit_triplets(sentences, count=50, seed=3) == first["edited_copy"][:50]
    assert label_triplets(sentences, labels, count=50, seed=3) == first["same_label"][:50]


def test_each_edit_follows_its_rule_within_the_window(vader_test):
    sentences, _ = vader_test
    triplets = edit_triplets(sentences, seed=0, window=12, min_words=4)
    eligible = sum(len(s.split()) >= 4 for s in sentences)
    assert len(triplets) == eligible > 900  # every long-enough sentence is an anchor once
    assert len({t["anchor_index"] for t in triplets}) == len(triplets)
    counts = {rule: sum(t["rule"] == rule for t in triplets) for rule in RULES}
    assert min(counts.values()) > len(triplets) / 5, counts  # the rule is drawn uniformly
    for t in triplets:
        words, edited, i = t["anchor"].split(), t["positive"].split(), t["position"]
        assert t["anchor"] == sentences[t["anchor_index"]] and t["negative"] == sentences[t["negative_index"]]
        assert t["negative"] != t["anchor"] and t["positive"] != t["anchor"]
        assert len(words) >= 4 and 0 <= i < 12
        if t["rule"] == "drop":
            assert edited == words[:i] + words[i + 1:] and not is_negation(words[i])
        elif t["rule"] == "swap":
            assert i + 1 < 12 and words[i] != words[i + 1]
            assert edited == words[:i] + [words[i + 1], words[i]] + words[i + 2:]
            assert not (is_negation(words[i]) or is_negation(words[i + 1]))
        else:
            assert t["rule"] == "repeat" and edited == words[:i + 1] + [words[i]] + words[i + 1:]
    assert is_negation("Not") and is_negation("isn't") and is_negation("never,") and not is_negation("note")


def test_label_triplets_pair_a_same_label_and_a_different_label_sentence(vader_test):
    sentences, labels = vader_test
    triplets = label_triplets(sentences, labels, seed=0)
    assert len(triplets) == len(sentences)
    for t in triplets:
        a, p, n = t["anchor_index"], t["positive_index"], t["negative_index"]
        assert labels[a] == labels[p] == t["label"] != labels[n]
        assert t["positive"] == sentences[p] != t["anchor"] == sentences[a]
    with pytest.raises(ValueError, match="one label per sentence"):
        label_triplets(sentences, labels[:-1])


def test_tfidf_ranks_edited_copies_right_and_random_vectors_score_near_chance(vader_test):
    sentences, labels = vader_test
    triplets = build_triplets(sentences, labels, seed=0)
    tfidf = score_triplets(tfidf_embedder(sentences), triplets)
    edited = tfidf["edited_copy"]
    assert edited["triplets"] == len(triplets["edited_copy"]) and edited["score"] > 0.95
    assert sum(f["triplets"] for f in edited["by_rule"].values()) == edited["triplets"]
    assert edited["ranked_right"] == round(edited["score"] * edited["triplets"])
    # Sentiment is barely in the words' overlap; many random pairs share no word (ties, wrong).
    same = tfidf["same_label"]
    assert same["triplets"] == len(sentences) and same["ties"] > 0 and same["score"] < 0.6

    def random_vectors(texts):  # a fixed random vector per text: no knowledge at all
        return np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(32) for t in texts])

    chance = score_triplets(random_vectors, triplets)
    for figure in ("edited_copy", "same_label"):
        assert abs(chance[figure]["score"] - 0.5) < 0.06 and chance[figure]["ties"] == 0
    assert chance["chance"] == 0.5


def test_a_constant_embedder_ties_everywhere_and_scores_zero(vader_test):
    sentences, labels = vader_test
    triplets = build_triplets(sentences, labels, count=100, seed=0)
    for constant in (lambda texts: np.ones([len(texts), 8]), lambda texts: np.zeros([len(texts), 8])):
        figures = score_triplets(constant, triplets)
        for figure in ("edited_copy", "same_label"):
            assert figures[figure] == {**figures[figure], "score": 0.0, "ranked_right": 0, "ties": 100}
    assert score_triplets(tfidf_embedder(sentences), build_triplets(sentences))["same_label"] is None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from app_fixtures import tiny_app_data

    return tiny_app_data(tmp_path_factory.getbasetemp() / "mmpretrain-apps")


def test_the_app_and_compare_report_the_figures_of_the_tiny_encoder(tiny, tmp_path):
    from app_fixtures import app_module

    from apps.common.compare import compare, format_table

    result = app_module("text_embedding", "search.py").run(
        encoder=tiny["encoder"], corpus=tiny["words"], queries=(), report_dir=str(tmp_path / "emb"), verbose=0)
    ranking = result["metrics"]["ranking"]
    with open(result["metrics"]["metrics_json"]) as f:
        assert json.load(f)["ranking"] == json.loads(json.dumps(ranking))
    # one triplet per test sentence for the label figure, the same triplets for both embedders
    assert ranking["encoder"]["same_label"]["triplets"] == ranking["test_sentences"] == \
        ranking["tfidf"]["same_label"]["triplets"] > 0
    # TF-IDF sees every edit of these word lists (no word is out of its vocabulary)
    assert ranking["tfidf"]["edited_copy"]["score"] == 1.0
    for figure in ("edited_copy", "same_label"):
        assert 0.0 <= ranking["encoder"][figure]["score"] <= 1.0

    rows = compare("text_embedding", data=tiny["words"], encoder=tiny["encoder"], label_fractions=(1.0,),
                   report_root=str(tmp_path / "compare"), verbose=0)
    assert [r["initialization"] for r in rows] == ["pretrained", "scratch"]
    assert rows[0]["ranking"]["tfidf"] == rows[1]["ranking"]["tfidf"]
    table = format_table(rows)
    assert "| figure | triplets | pretrained | scratch | TF-IDF | chance |" in table
    for figure in ("edited_copy", "same_label"):
        line = next(line for line in table.splitlines() if f"| {figure} |" in line)
        cells = [c.strip() for c in line.split("|")]
        expected = [f"{rows[i]['ranking']['encoder'][figure]['score']:.4f}" for i in (0, 1)]
        assert cells[5:8] == expected + [f"{rows[0]['ranking']['tfidf'][figure]['score']:.4f}"]


def test_encoder_figures_score_the_pretrained_and_a_scratch_encoder_on_the_same_triplets(tiny):
    from mmpretrain.embedding_triplets import encoder_figures, format_figures

    result = encoder_figures(tiny["encoder"], data=tiny["words"], seed=0)
    figures = result["figures"]
    assert list(figures) == ["pretrained", "scratch", "TF-IDF"]
    counts = {name: (f["edited_copy"]["triplets"], f["same_label"]["triplets"]) for name, f in figures.items()}
    assert len(set(counts.values())) == 1 and counts["TF-IDF"][1] == result["test_sentences"]
    lines = format_figures(figures)
    assert lines[0].split() == ["figure", "triplets", "pretrained", "scratch", "TF-IDF", "chance"]
    assert [line.split()[0] for line in lines[1:]] == ["edited_copy", "same_label"]
    assert lines[2].split()[2:] == [f"{figures[n]['same_label']['score']:.4f}" for n in figures] + ["0.50"]
