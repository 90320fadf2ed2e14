"""Sequence-to-sequence: the DDTP pairs, the decoder, greedy and beam decoding, the app.

The pairs are real Debian stanzas (tests/fixtures/ddtp); the model is the shared trunk at
2 layers, width 16, with a WordPiece vocabulary learned (tf.text) from those stanzas.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "ddtp")


def _read(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def records():
    from mmpretrain.data.sources import ddtp

    parsed = ddtp.read_descriptions({lang: [_read(f"Translation-{lang}")] for lang in ("en", "de", "fr")},
                                    [_read("Packages")])
    groups = ddtp.group_families(parsed)
    return [dict(parsed[md5], group=groups[md5]) for md5 in sorted(parsed)]


@pytest.fixture(scope="module")
def model_and_pairs(records):
    import keras

    from mmpretrain.backbone import MultimodalBackbone
    from mmpretrain.data.sources import ddtp
    from mmpretrain.modalities.text_vocabulary import learn_vocabulary
    from mmpretrain.tasks.seq2seq import Seq2SeqLM

    items = ddtp.summarization_items(records, min_body_words=5)
    sources, targets = [s for _, s, _ in items], [t for _, _, t in items]
    vocabulary = learn_vocabulary(sources + targets, vocabulary_size=300)
    keras.utils.set_random_seed(0)
    backbone = MultimodalBackbone({"text": {"vocabulary_size": len(vocabulary), "max_length": 48}},
                                  num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32)
    model = Seq2SeqLM(backbone, vocabulary, 48, target_length=12, num_layers=1, dropout=0.0)
    return model, sources, targets


def test_ddtp_stanzas_parse_into_synopsis_paragraphs_and_translations(records):
    from mmpretrain.data.sources import ddtp

    by_package = {p: r for r in records for p in r["packages"]}
    assert len(records) == 22 and set(by_package) >= {"0ad", "libxml2-dev", "zstd"}
    zeroad = by_package["0ad-data"]["en"]
    assert zeroad["synopsis"] == "Real-time strategy game of ancient warfare (data files)"
    assert len(zeroad["paragraphs"]) == 2 and zeroad["paragraphs"][1].startswith("This package contains")
    assert "\n" not in zeroad["paragraphs"][0] and "  " not in zeroad["paragraphs"][0]
    assert by_package["0ad"]["de"]["synopsis"] == "Echtzeit-Strategiespiel über antike Kriegsführung"
    synopses = ddtp.translation_items(records, "de")
    assert ("Real-time strategy game of ancient warfare", "Echtzeit-Strategiespiel über antike Kriegsführung") in [
        (en, de) for _, en, de in synopses]
    with pytest.raises(ValueError, match=r"Expected one of \['de', 'fr'\]"):
        ddtp.translation_items(records, "es")


def test_siblings_that_share_a_body_or_a_source_share_a_group_and_a_split(records):
    from mmpretrain.data.sources import ddtp

    group = {p: r["group"] for r in records for p in r["packages"]}
    # one source package: libxml2, libxml2-dev, libxml2-doc; a shared first paragraph: 0ad, 0ad-data
    assert group["libxml2"] == group["libxml2-dev"] == group["libxml2-doc"]
    assert group["0ad"] == group["0ad-data"] == group["0ad-data-common"]
    assert group["zstd"] != group["cowsay"]
    for seed in range(5):
        pairs = ddtp.load_summarization_pairs(seed=seed, records=records, min_body_words=5)
        split_of = {g: name for name in pairs.split_names for g in pairs.groups[name]}
        for name in pairs.split_names:
            assert all(split_of[g] == name for g in pairs.groups[name])
        assert len(pairs) == len({(s.lower(), t.lower()) for name in pairs.split_names for s, t in pairs.pairs[name]})


@pytest.fixture(scope="module")
def copy_model_and_pairs(model_and_pairs):
    """The pointer-generator output on the same backbone config and vocabulary."""
    import keras

    from mmpretrain.tasks.seq2seq import Seq2SeqLM

    model, sources, targets = model_and_pairs
    keras.utils.set_random_seed(0)
    backbone = type(model.backbone).from_config(model.backbone.get_config())
    return Seq2SeqLM(backbone, model.vocabulary, 48, target_length=12, num_layers=1, dropout=0.0,
                     copy=True), sources, targets


@pytest.mark.parametrize("fixture", ["model_and_pairs", "copy_model_and_pairs"])
def test_teacher_forcing_loss_falls(request, fixture):
    import keras

    model, sources, targets = request.getfixturevalue(fixture)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    data = model.pair_dataset(sources, targets, batch_size=8, shuffle_seed=0)
    first = model.evaluate(data, verbose=0)
    model.fit(data, epochs=12, verbose=0, shuffle=False)
    assert model.evaluate(data, verbose=0) < 0.7 * first


@pytest.mark.parametrize("fixture", ["model_and_pairs", "copy_model_and_pairs"])
def test_a_later_target_token_leaves_earlier_logits_unchanged(request, fixture):
    model, sources, targets = request.getfixturevalue(fixture)
    inputs, _, _ = model.tokenize_pairs(tf.constant(sources[:3]), tf.constant(targets[:3]))
    logits = model(inputs).numpy()
    changed = inputs["decoder_ids"].numpy().copy()
    changed[:, 6] = (changed[:, 6] + 7) % model.vocabulary_size
    after = model(dict(inputs, decoder_ids=tf.constant(changed))).numpy()
    np.testing.assert_allclose(after[:, :6], logits[:, :6], atol=1e-5)
    assert np.abs(after[:, 6:] - logits[:, 6:]).max() > 1e-4


@pytest.mark.parametrize("fixture", ["model_and_pairs", "copy_model_and_pairs"])
def test_beam_width_one_equals_greedy(request, fixture):
    model, sources, _ = request.getfixturevalue(fixture)
    ids, mask = model.tokenize_sources(tf.constant(sources[:6]))
    greedy_ids, greedy_score = model.greedy_ids(ids, mask, 12, 0.0)
    beam_ids, beam_score = model.beam_ids(ids, mask, 12, 1, 0.0)
    np.testing.assert_array_equal(greedy_ids.numpy(), beam_ids.numpy())
    np.testing.assert_allclose(greedy_score.numpy(), beam_score.numpy(), atol=1e-5)
    four_ids, _ = model.beam_ids(ids, mask, 12, 4, 0.6)
    assert four_ids.shape == greedy_ids.shape
    assert model.generate(sources[:2], num_beams=1)["text"] == model.generate(sources[:2])["text"]


def test_generation_stops_at_sep_and_respects_max_length(model_and_pairs):
    model, sources, _ = model_and_pairs
    ids, mask = model.tokenize_sources(tf.constant(sources[:4]))
    out, _ = model.greedy_ids(ids, mask, 3, 0.6)
    assert np.all(out.numpy()[:, 3:] == 0)
    texts = model.generate(sources[:4], max_length=3)["text"]
    assert all(len(t.split()) <= 3 for t in texts)


def test_ids_to_text_joins_wordpieces_and_stops_at_sep():
    from mmpretrain.tasks.seq2seq import ids_to_text

    vocabulary = tf.constant(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "real", "-", "time", "game",
                              "##s", "(", "data", ")", ","])
    ids = tf.constant([[5, 6, 7, 8, 9, 13, 10, 11, 12, 3, 8, 0], [3, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert [t.decode() for t in ids_to_text(ids, vocabulary).numpy()] == ["real - time games, (data)", ""]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_length": 0}, r"max_length must be an integer in \[1, 12\]"),
    ({"max_length": 10_000}, r"max_length must be an integer in \[1, 12\]"),
    ({"num_beams": 0}, r"num_beams must be an integer in \[1, 16\]"),
    ({"length_penalty": "long"}, "length_penalty must be a number"),
])
def test_bad_generation_options_say_what_is_accepted(model_and_pairs, kwargs, message):
    model, sources, _ = model_and_pairs
    with pytest.raises(ValueError, match=message):
        model.generate(sources[:1], **kwargs)


def test_empty_and_non_string_inputs(model_and_pairs):
    model, _, _ = model_and_pairs
    out = model.generate(["", "zstd"])
    assert len(out["text"]) == 2 and all(isinstance(t, str) for t in out["text"])
    with pytest.raises(ValueError, match="string"):
        model.generate([3, 4])


def test_export_generates_the_keras_strings_in_a_fresh_process(model_and_pairs, tmp_path):
    import json
    import subprocess
    import sys

    from mmpretrain.export.seq2seq_export import export_seq2seq

    model, sources, _ = model_and_pairs
    inputs = sources[:6] + [""]
    export = export_seq2seq(model, "summarization", "summarization", str(tmp_path), inputs, {}, log=lambda m: None)
    assert export["parity"]["saved_model"] == {"exact_match": 1.0, "examples": 7}
    assert export["parity"]["tflite"]["greedy"] == {"identical_outputs": 1.0, "examples": 7}
    assert all(not op.startswith("Flex") for part in ("encode", "decode_step")
               for op in export["parity"]["tflite"][part]["ops"])
    script = (
        "import json, sys\n"
        "import tensorflow as tf, tensorflow_text\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "texts = json.loads(sys.stdin.read())\n"
        "a = m.signatures['generate'](text=tf.constant(texts))\n"
        "b = m.generate_with_options({'text': tf.constant(texts), 'max_length': tf.constant(12),\n"
        "                             'num_beams': tf.constant(3), 'length_penalty': tf.constant(0.6)})\n"
        "print(json.dumps([[t.decode() for t in a['text'].numpy()], [t.decode() for t in b['text'].numpy()]]))\n"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script, export["saved_model"]], input=json.dumps(inputs),
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    greedy, beams = json.loads(result.stdout.strip().splitlines()[-1])
    assert greedy == model.generate(inputs)["text"]
    assert beams == model.generate(inputs, num_beams=3)["text"]


def test_summarization_pipeline_shapes_options_and_bad_input(model_and_pairs, tmp_path):
    import mmpretrain
    from mmpretrain.export.seq2seq_export import export_seq2seq

    model, sources, _ = model_and_pairs
    export = export_seq2seq(model, "summarization", "summarization", str(tmp_path), sources[:2], {},
                            tflite=False, log=lambda m: None)
    summarize = mmpretrain.pipeline("summarization", model=export["saved_model"])
    one = summarize(sources[0])
    assert one == [{"summary_text": model.generate(sources[0])["text"][0]}]
    many = summarize(sources[:3], num_beams=2, max_length=5)
    assert [a["summary_text"] for a in many] == model.generate(sources[:3], num_beams=2, max_length=5)["text"]
    with pytest.raises(ValueError, match="input 0 is an empty string"):
        summarize([""])  # as in every text pipeline; Seq2SeqLM.generate("") decodes it
    with pytest.raises(ValueError, match=r"num_beams must be an integer in \[1, 16\]"):
        summarize(sources[0], num_beams=0)
    with pytest.raises(ValueError, match=r"max_length must be an integer in \[1, 12\]"):
        summarize(sources[0], max_length=-1)
    with pytest.raises(ValueError, match="str"):
        summarize(42)
    with pytest.raises(ValueError, match="is a 'summarization' model, not a fill-mask one"):
        mmpretrain.pipeline("fill-mask", model=export["saved_model"])


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """The app tests' tiny run (lower-cased vocabulary; shared with tests/test_apps.py in one
    session) and a text-only one with a cased vocabulary."""
    from app_fixtures import tiny_run

    base = tmp_path_factory.getbasetemp()
    return {"lower": tiny_run(base / "mmpretrain-apps"),
            "cased": tiny_run(base / "mmpretrain-seq2seq-cased", lower_case=False, text_only=True)}


def test_summarization_app_trains_scores_rouge_against_lead8_and_exports(records, tiny_runs, tmp_path):
    import json

    from app_fixtures import app_module

    from mmpretrain.data.sources import ddtp

    pairs = ddtp.load_summarization_pairs(records=records, min_body_words=5, fractions=(0.5, 0.25, 0.25))
    assert all(pairs.pairs[name] for name in pairs.split_names)
    app = app_module("summarization")
    args = app.build_parser().parse_args(
        ["--run", tiny_runs["lower"], "--epochs", "1", "--target-length", "8", "--decoder-layers", "1",
         "--output", str(tmp_path / "out"), "--models", str(tmp_path / "models"), "--quiet", "--no-tflite"])
    metrics, model = app.train_seq2seq(pairs, args, "summarization", score=app.rouge_scores,
                                       baselines={"lead8": lambda sources, train: [app.lead(s) for s in sources]})
    assert set(metrics["scores"]) == {"rouge1", "rouge2", "rougeL"} == set(metrics["baselines"]["lead8"])
    assert metrics["test_pairs"] == len(pairs.pairs["test"]) and metrics["initialization"] == "pretrained"
    assert len(metrics["examples"]) == min(10, metrics["test_pairs"])
    with open(os.path.join(metrics["output"], "metrics.json")) as f:
        assert json.load(f)["scores"] == metrics["scores"]
    assert metrics["export"]["parity"]["saved_model"]["exact_match"] == 1.0
    lead = [app.lead(s) for s in pairs.sources("test")]
    assert metrics["baselines"]["lead8"] == app.rouge_scores(pairs.targets("test"), lead)


def test_from_scratch_keeps_the_architecture_and_the_decoder_init_but_not_the_encoder(tiny_runs):
    from mmpretrain.export.run_loader import load_run
    from mmpretrain.tasks.seq2seq import Seq2SeqLM

    run = load_run(tiny_runs["lower"])
    pretrained = Seq2SeqLM.from_run(run, seed=3, target_length=8, num_layers=1)
    scratch = Seq2SeqLM.from_run(run, from_scratch=True, seed=3, target_length=8, num_layers=1)
    np.testing.assert_array_equal(pretrained.backbone.blocks[0].get_weights()[0],
                                  run.backbone.blocks[0].get_weights()[0])
    assert not np.allclose(scratch.backbone.blocks[0].get_weights()[0], run.backbone.blocks[0].get_weights()[0])
    for mine, theirs in zip(pretrained.decoder_layers[0].get_weights(), scratch.decoder_layers[0].get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert [w.shape for w in pretrained.get_weights()] == [w.shape for w in scratch.get_weights()]


def test_rouge_of_identical_and_disjoint_texts():
    from app_fixtures import app_module

    rouge = app_module("summarization").rouge_scores
    assert rouge(["a fast compression tool"], ["a fast compression tool"]) == {
        "rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}
    assert rouge(["a fast compression tool"], ["strategy game"]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_rest_server_serves_generate_like_keras_and_refuses_bad_bodies(model_and_pairs, tmp_path):
    from app_fixtures import post_json

    from mmpretrain.export.seq2seq_export import export_seq2seq
    from mmpretrain.serving.rest_server import make_server

    model, sources, _ = model_and_pairs
    export_seq2seq(model, "summarization", "summarization", str(tmp_path), sources[:2], {}, tflite=False,
                   log=lambda m: None)
    server = make_server(str(tmp_path), port=0).start_in_thread()

    def post(body):
        return post_json(server.url + "/v1/models/summarization:predict", body)

    try:
        status, body = post({"signature_name": "generate", "instances": sources[:3]})
        assert status == 200
        assert [p["text"] for p in body["predictions"]] == model.generate(sources[:3])["text"]
        status, body = post({"instances": [{"text": sources[0]}]})  # serving_default is generate
        assert status == 200 and body["predictions"][0]["text"] == model.generate(sources[:1])["text"][0]
        status, body = post({"instances": [3, 4]})
        assert status == 400 and "error" in body
    finally:
        server.stop()


def test_summarization_cli_refuses_bad_flags_before_training(capsys):
    from app_fixtures import app_module

    app = app_module("summarization")
    for flags, message in ((["--num-beams", "0"], "num_beams must be an integer in [1, 16]"),
                           (["--epochs", "0"], "--epochs must be at least 1"),
                           (["--length-penalty", "9"], "length_penalty must be a number in [0, 5]"),
                           (["--run", "no/such/run"], "does not exist")):
        assert app.main(flags) == 2
        assert message in capsys.readouterr().err


def test_a_saved_model_keras_file_reloads_in_a_fresh_process_with_the_same_outputs(copy_model_and_pairs, tmp_path):
    import json
    import subprocess
    import sys

    model, sources, _ = copy_model_and_pairs
    path = str(tmp_path / "model.keras")
    model.save(path)
    script = ("import json, sys, keras\n"
              "import mmpretrain.tasks.seq2seq\n"
              "m = keras.saving.load_model(sys.argv[1], compile=False)\n"
              "print(json.dumps(m.generate(json.loads(sys.argv[2]), num_beams=2)['text']))\n")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    result = subprocess.run([sys.executable, "-c", script, path, json.dumps(sources[:4])], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == model.generate(sources[:4], num_beams=2)["text"]


def test_a_cased_vocabulary_keeps_capitals_and_accents():
    from mmpretrain.modalities.text_preprocessor import TextPreprocessor
    from mmpretrain.modalities.text_vocabulary import learn_vocabulary
    from mmpretrain.tasks.seq2seq import ids_to_text

    texts = ["Echtzeit-Strategiespiel über antike Kriegsführung", "Bibliothèque de compression rapide"] * 20
    cased = TextPreprocessor(learn_vocabulary(texts, 300, lower_case=False), 32, lower_case=False)
    ids = cased(["Kriegsführung über Bibliothèque"])["token_ids"][:, 1:]
    assert ids_to_text(ids, tf.constant(cased.vocabulary)).numpy()[0].decode() == "Kriegsführung über Bibliothèque"
    assert TextPreprocessor.from_config(cased.get_config()).lower_case is False
    lower = TextPreprocessor(learn_vocabulary(texts, 300), 32)
    assert "lower_case" not in lower.get_config()
    assert ids_to_text(lower(["Über"])["token_ids"][:, 1:], tf.constant(lower.vocabulary)).numpy()[0] == b"uber"


def test_translation_memory_copy_and_bleu(records):
    from app_fixtures import app_module

    from mmpretrain.data.sources import ddtp

    app = app_module("translation")
    pairs = [(en, de) for _, en, de in ddtp.translation_items(records, "de")]
    train, queries = pairs[1:], [pairs[1][0].lower(), "Real-time strategy game"]
    found = app.translation_memory(queries, train)
    assert found[0] == pairs[1][1]  # the nearest English is itself, up to case
    same = "Ein schneller Text für die Kommandozeile"
    assert app.translation_scores([same], [same]) == {"bleu": 100.0, "chrf": 100.0}
    assert app.translation_scores(["Ein Text"], ["xyz"])["bleu"] == 0.0


def test_translation_app_on_a_cased_run_and_refuses_a_lower_cased_one(records, tiny_runs, tmp_path, capsys):
    from app_fixtures import app_module

    from mmpretrain.data.sources import ddtp

    app = app_module("translation")
    assert app.main(["--run", tiny_runs["lower"], "--target", "de"]) == 2
    assert "cannot write de" in capsys.readouterr().err
    assert app.main(["--run", tiny_runs["cased"], "--target", "es"]) == 2
    assert "Supported language pairs: ['en-de', 'en-fr']" in capsys.readouterr().err
    pairs = ddtp.load_translation_pairs("de", records=records, fractions=(0.5, 0.25, 0.25))
    args = app.build_parser().parse_args(["--run", tiny_runs["cased"], "--epochs", "1", "--target-length", "10",
                                          "--decoder-layers", "1", "--no-export", "--quiet",
                                          "--output", str(tmp_path / "out")])
    metrics, model = app.train_seq2seq(
        pairs, args, "translation_en_to_de", score=app.translation_scores, normalize=app.round_trip,
        baselines={"copy": lambda sources, train: list(sources), "translation_memory": app.translation_memory})
    assert model.lower_case is False
    assert set(metrics["scores"]) == {"bleu", "chrf"} == set(metrics["baselines"]["translation_memory"])
    assert metrics["test_pairs"] == len(pairs.pairs["test"])


def test_translation_pipeline_names_the_language_pairs_it_has():
    import mmpretrain

    with pytest.raises(ValueError, match=r"the language pairs it has: \['en->de', 'en->fr'\]"):
        mmpretrain.pipeline("translation", src_lang="en", tgt_lang="es")
    with pytest.raises(ValueError, match="no model for src_lang=None"):
        mmpretrain.pipeline("translation")


def test_no_repeat_ngram_bans_exactly_the_tokens_that_would_repeat_an_ngram(model_and_pairs):
    model, sources, _ = model_and_pairs
    a, b, c, d = 20, 21, 22, 23
    ids = tf.constant([[2, a, b, c, a, b, 0, 0, 0, 0, 0, 0], [2, a, b, d, a, c, 0, 0, 0, 0, 0, 0]])
    ban = model.repeat_ban(ids, tf.constant(5), 3).numpy() < -1
    assert [list(np.flatnonzero(row)) for row in ban] == [[c], []]  # "a b" was followed by c before
    unigram = model.repeat_ban(ids, tf.constant(5), 1).numpy() < -1
    assert list(np.flatnonzero(unigram[1])) == [a, b, c, d]
    source_ids, source_mask = model.tokenize_sources(tf.constant(sources[:6]))
    for decode in (lambda: model.greedy_ids(source_ids, source_mask, 12, 0.6, 1),
                   lambda: model.beam_ids(source_ids, source_mask, 12, 3, 0.6, 1)):
        out = decode()[0].numpy()
        for row in out:
            written = [t for t in row if t > 4]
            assert len(written) == len(set(written))
    with pytest.raises(ValueError, match=r"no_repeat_ngram_size must be an integer in \[0, 12\]"):
        model.generate(sources[:1], no_repeat_ngram_size=-1)
