"""Tests for the text front-end (real tensorflow-text, no mocks)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from mmpretrain.modalities.text import (
    CLS_ID,
    MASK_ID,
    PAD_ID,
    RESERVED_TOKENS,
    SEP_ID,
    UNK_ID,
    TextPreprocessor,
    learn_vocabulary,
    load_vocabulary,
    save_vocabulary,
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A small cafe on the corner sells fresh bread and strong coffee every morning.",
    "She walked to the station, bought a ticket, and waited for the early train.",
    "Researchers trained the model on thousands of images, sounds and sentences.",
    "The children were playing in the garden while their parents were cooking dinner.",
    "Learning a new language takes patience, practice and a lot of reading.",
    "The weather forecast predicts heavy rain and strong winds for the weekend.",
    "He opened the window and listened to the birds singing in the trees.",
    "Our team is building a shared transformer for text, images and audio.",
    "The library was quiet except for the sound of pages turning slowly.",
    "They travelled across the mountains and reached the village before sunset.",
    "Fresh vegetables from the market make the soup taste much better.",
    "The teacher explained the lesson again because many students were confused.",
    "Running every morning helped him feel stronger and sleep better at night.",
    "The museum opened a new exhibition about ancient ships and sailors.",
    "Please remember to close the door when you leave the building.",
    "The cafe owner smiled and offered us another cup of tea.",
    "Scientists are studying how birds find their way during long journeys.",
    "The old bridge was repaired after the storm damaged its wooden beams.",
    "We watched the stars from the roof and talked until midnight.",
    "Reading books before sleeping is a habit that many people enjoy.",
    "The engineers tested the engine several times before the final launch.",
    "A gentle breeze moved the curtains while the kettle started to boil.",
    "The students presented their projects to the whole school on Friday.",
    "Walking through the forest, they heard the river long before they saw it.",
    "The baker wakes up early to prepare bread, cakes and cookies.",
    "Many cities are planting trees to keep the streets cooler in summer.",
    "The singer thanked the audience and played one more song.",
    "Training a model requires data, patience and careful testing.",
    "The kitten was sleeping on the warm blanket near the fireplace.",
    "He wrote a long letter to his grandmother and posted it the next day.",
    "The farmers were working in the fields from sunrise until evening.",
    "Our neighbours planted flowers along the path leading to their house.",
    "The orchestra was playing a slow piece while the lights dimmed.",
    "Travelling by train lets you watch the landscape change slowly.",
    "The players trained hard and finally won the championship game.",
    "She painted the walls of her room a bright and cheerful colour.",
    "Listening carefully is one of the most important skills of a teacher.",
    "The boats were floating quietly in the harbour under the grey sky.",
    "After the meeting, everyone walked to the cafe for a quick lunch.",
    "The nurses were checking on the patients throughout the long night.",
    "Building a small boat taught them more than any lesson in school.",
    "The painters finished the kitchen and started working on the hallway.",
    "Thousands of runners crossed the bridge during the city marathon.",
    "The gardener was cutting the hedges and watering the roses.",
    "Her brother collects old maps and reads about famous explorers.",
    "The workers are repairing the road that leads to the harbour.",
    "Cooking together on Sundays is a tradition in their family.",
    "The dancers moved gracefully across the stage under bright lights.",
    "Visitors waited patiently outside the museum before it opened.",
    "The writer spent the winter finishing her third novel.",
    "Swimming in the lake was the highlight of the summer holidays.",
    "The drivers slowed down because the road was covered in snow.",
    "Teachers and students planted a garden behind the school building.",
    "The fishermen returned with their boats full of fresh fish.",
    "Reading the instructions carefully saved them hours of work.",
    "The hikers followed the river until they found a quiet place to camp.",
    "Singing in the choir gave her confidence and many new friends.",
    "The builders were finishing the roof before the winter storms arrived.",
    "Listening to the rain on the window made the evening feel calm.",
]
UNKNOWN_WORD = "ξψωλ"  # Greek letters: never seen by the learner


@pytest.fixture(scope="module")
def vocab():
    return learn_vocabulary(CORPUS, vocabulary_size=300, min_count=2)


@pytest.fixture(scope="module")
def pre(vocab):
    return TextPreprocessor(vocab, sequence_length=16)


@pytest.fixture(scope="module")
def wide(vocab):
    """Same vocabulary, long enough never to truncate the test texts."""
    return TextPreprocessor(vocab, sequence_length=64)


def _pieces(wide_pre, text):
    """Untruncated wordpiece ids of one text (without [CLS]/[SEP])."""
    out = wide_pre([text])
    ids = out["token_ids"][0].numpy()
    n = int(out["padding_mask"][0].numpy().sum())
    assert ids[n - 1] == SEP_ID, "test text too long for the wide preprocessor"
    return list(ids[1 : n - 1])


# ------------------------------------------------------------------------ vocabulary
def test_learned_vocabulary(vocab, pre):
    assert vocab[:5] == RESERVED_TOKENS == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID) == (0, 1, 2, 3, 4)
    assert 150 <= len(vocab) <= 300
    assert len(set(vocab)) == len(vocab)
    learned = vocab[5:]
    assert any(t.startswith("##") and len(t) > 2 for t in learned)  # real wordpieces
    assert "the" in learned
    assert all(t == t.lower() for t in learned)
    assert pre.vocabulary == vocab and pre.vocabulary_size == len(vocab)
    assert (pre.pad_id, pre.unk_id, pre.cls_id, pre.sep_id, pre.mask_id) == (0, 1, 2, 3, 4)
    assert pre.embedding_config() == {"vocabulary_size": len(vocab), "max_length": 16}


def test_learn_from_dataset_matches_list(vocab):
    ds = tf.data.Dataset.from_tensor_slices(CORPUS)  # scalar elements
    assert learn_vocabulary(ds, vocabulary_size=300, min_count=2) == vocab


def test_vocabulary_size_is_a_maximum():
    small = learn_vocabulary(CORPUS, vocabulary_size=100, min_count=1)
    assert small[:5] == RESERVED_TOKENS and 80 <= len(small) <= 100
    # Smaller than the alphabet: every character and its ## form is still kept.
    tiny = learn_vocabulary(CORPUS, vocabulary_size=40, min_count=1)
    chars = {c for c in " ".join(CORPUS).lower() if c.isalpha()}
    assert chars <= set(tiny) and {"##" + c for c in chars} <= set(tiny)


def test_save_load_vocabulary_round_trip(vocab, tmp_path):
    path = tmp_path / "sub" / "vocab.txt"
    save_vocabulary(vocab, path)
    assert load_vocabulary(path) == vocab
    assert [p.name for p in path.parent.iterdir()] == ["vocab.txt"]  # no temp leftovers
    from_path = TextPreprocessor(str(path), sequence_length=16)
    assert from_path.vocabulary == vocab


def test_load_vocabulary_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_vocabulary(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_vocabulary(empty)
    swapped = tmp_path / "swapped.txt"
    swapped.write_text("\n".join(["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]", "a"]) + "\n")
    with pytest.raises(ValueError, match=r"first 5 tokens must be exactly"):
        load_vocabulary(swapped)


def test_learn_vocabulary_bad_input():
    with pytest.raises(ValueError, match="iterable of strings"):
        learn_vocabulary("just one string")
    with pytest.raises(ValueError, match="item 1 has type int"):
        learn_vocabulary(["ok", 3])
    with pytest.raises(ValueError, match="no words"):
        learn_vocabulary(["", "   "])
    with pytest.raises(ValueError, match="vocabulary_size"):
        learn_vocabulary(CORPUS, vocabulary_size=5)


# ------------------------------------------------------------------------ tokenising
def test_layout_and_dtypes(pre, wide):
    out = pre(["the cafe", "The quick brown fox jumps"])
    assert set(out) == {"token_ids", "padding_mask", "segment_ids"}
    assert out["token_ids"].dtype == tf.int32 and out["token_ids"].shape == (2, 16)
    assert out["padding_mask"].dtype == tf.bool and out["padding_mask"].shape == (2, 16)
    assert out["segment_ids"].dtype == tf.int32 and out["segment_ids"].shape == (2, 16)
    ids = out["token_ids"].numpy()
    pieces = _pieces(wide, "the cafe")
    assert list(ids[0]) == [CLS_ID, *pieces, SEP_ID] + [PAD_ID] * (14 - len(pieces))
    assert not out["segment_ids"].numpy().any()
    np.testing.assert_array_equal(out["padding_mask"].numpy(), ids != PAD_ID)


def test_scalar_is_promoted_to_batch(pre):
    a = pre("The cafe")["token_ids"].numpy()
    b = pre(["The cafe"])["token_ids"].numpy()
    c = pre(tf.constant("The cafe"))["token_ids"].numpy()
    d = pre(np.array(["The cafe"]))["token_ids"].numpy()
    assert a.shape == (1, 16)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(a, d)


def test_empty_string(pre):
    out = pre([""])
    assert list(out["token_ids"][0].numpy()) == [CLS_ID, SEP_ID] + [PAD_ID] * 14
    assert int(out["padding_mask"].numpy().sum()) == 2


def test_unknown_word_and_case_accent_folding(pre, wide):
    assert not set(UNKNOWN_WORD) & set("".join(CORPUS).lower())
    ids = _pieces(wide, f"the {UNKNOWN_WORD} cafe")
    assert ids[1] == UNK_ID and ids.count(UNK_ID) == 1  # the whole word -> one [UNK]
    np.testing.assert_array_equal(
        pre(["Café", "CAFÉ", "cafe"])["token_ids"].numpy(),
        pre(["cafe", "cafe", "cafe"])["token_ids"].numpy(),
    )
    assert UNK_ID not in _pieces(wide, "Café")


def test_truncation_single(pre, wide):
    text = " ".join(CORPUS[:2])
    full = _pieces(wide, text)
    assert len(full) > 14
    ids = pre([text])["token_ids"][0].numpy()
    assert list(ids) == [CLS_ID, *full[:14], SEP_ID]  # first L-2 wordpieces, then [SEP]
    assert pre([text])["padding_mask"].numpy().all()


def test_pairs_segment_ids(pre, wide):
    a, b = "the cafe", "fresh bread"
    pa, pb = _pieces(wide, a), _pieces(wide, b)
    out = pre(([a], [b]))
    ids = out["token_ids"][0].numpy()
    n = len(pa) + len(pb) + 3
    assert list(ids[:n]) == [CLS_ID, *pa, SEP_ID, *pb, SEP_ID]
    assert not ids[n:].any()
    expected_segments = [0] * (len(pa) + 2) + [1] * (len(pb) + 1) + [0] * (16 - n)
    assert list(out["segment_ids"][0].numpy()) == expected_segments
    assert int(out["padding_mask"][0].numpy().sum()) == n
    # A list of two batches is a pair as well; a list of two strings is a batch of two.
    np.testing.assert_array_equal(pre([[a], [b]])["token_ids"].numpy(), out["token_ids"].numpy())
    assert pre([a, b])["token_ids"].shape == (2, 16)


def test_truncation_pairs(pre, wide):
    """Budget L-3 = 13; each segment may use half (a: 7, b: 6), unused budget moves over."""
    budget = 16 - 3
    long_a, long_b, short = CORPUS[0], CORPUS[1], "the cafe"
    pa, pb, ps = _pieces(wide, long_a), _pieces(wide, long_b), _pieces(wide, short)
    assert len(pa) > budget and len(pb) > budget and len(ps) < 6
    cases = [
        ((long_a, long_b), [CLS_ID, *pa[:7], SEP_ID, *pb[:6], SEP_ID]),  # both long
        ((long_a, short), [CLS_ID, *pa[: budget - len(ps)], SEP_ID, *ps, SEP_ID]),
        ((short, long_b), [CLS_ID, *ps, SEP_ID, *pb[: budget - len(ps)], SEP_ID]),
    ]
    out = pre(([a for (a, _), _ in cases], [b for (_, b), _ in cases]))
    for row, (_, expected) in enumerate(cases):
        assert list(out["token_ids"][row].numpy()) == expected
        assert out["padding_mask"][row].numpy().all()
    first_sep = 2 + len(pa[: budget - len(ps)])
    assert list(out["segment_ids"][1].numpy()) == [0] * first_sep + [1] * (16 - first_sep)


def test_eager_equals_tf_data_and_tf_function(pre):
    texts = ["", "the cafe", CORPUS[3], " ".join(CORPUS[4:7]), "Café " + UNKNOWN_WORD, "a"]
    eager = pre(texts)
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(4).map(pre)
    batches = list(ds)
    for key in eager:
        got = np.concatenate([b[key].numpy() for b in batches])
        np.testing.assert_array_equal(got, eager[key].numpy())

    fn = tf.function(pre, input_signature=[tf.TensorSpec([None], tf.string)])
    traced = fn(tf.constant(texts))
    for key in eager:
        np.testing.assert_array_equal(traced[key].numpy(), eager[key].numpy())

    pairs = tf.data.Dataset.from_tensor_slices((texts, texts[::-1])).batch(4)
    pair_batches = list(pairs.map(lambda a, b: pre((a, b))))
    eager_pairs = pre((texts, texts[::-1]))
    got = np.concatenate([b["segment_ids"].numpy() for b in pair_batches])
    np.testing.assert_array_equal(got, eager_pairs["segment_ids"].numpy())


def test_config_round_trip_and_detokenize(pre):
    config = json.loads(json.dumps(pre.get_config()))
    assert config == {"vocabulary": pre.vocabulary, "sequence_length": 16}
    clone = TextPreprocessor.from_config(config)
    texts = ["The quick brown fox", "Café and bread", ""]
    np.testing.assert_array_equal(clone(texts)["token_ids"].numpy(), pre(texts)["token_ids"].numpy())
    ids = pre(texts)["token_ids"]
    assert pre.detokenize(ids) == ["the quick brown fox", "cafe and bread", ""]
    masked = ids.numpy().copy()
    masked[0, 2] = MASK_ID
    assert pre.detokenize(masked[0]) == ["the brown fox"]


# ------------------------------------------------------------------------ bad input
def test_bad_inputs(pre, vocab):
    with pytest.raises(ValueError, match=r"dtype int32.*accepts"):
        pre(tf.constant([1, 2, 3]))
    with pytest.raises(ValueError, match=r"numpy array of dtype float"):
        pre(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"item 0 of inputs is of type int"):
        pre([7])
    with pytest.raises(ValueError, match=r"shape \[2, 1\] \(rank 2\)"):
        pre(tf.constant([["a"], ["b"]]))
    with pytest.raises(ValueError, match=r"not valid UTF-8.*item 1"):
        pre(tf.constant([b"fine", b"\xff\xfe"]))
    with pytest.raises(ValueError, match=r"same batch size"):
        pre((["a", "b"], ["c"]))
    with pytest.raises(ValueError, match=r"sequence_length must be an int >= 2.*received 1"):
        TextPreprocessor(vocab, sequence_length=1)
    with pytest.raises(ValueError, match=r"first 5 tokens must be exactly"):
        TextPreprocessor(["the", "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    with pytest.raises(ValueError, match=r"must be unique"):
        TextPreprocessor(RESERVED_TOKENS + ["the", "the"])
    with pytest.raises(ValueError, match=r"does not exist"):
        TextPreprocessor("/nonexistent/vocab.txt")


def test_non_utf8_inside_graph_fails_with_message(pre):
    fn = tf.function(pre, input_signature=[tf.TensorSpec([None], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="not valid UTF-8"):
        fn(tf.constant([b"ok", b"\xff\xfe"]))


def test_tflite_conversion_reproduces_ids(pre):
    """Dense packing converts to TFLite builtins + tf.text custom ops only."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    import tensorflow_text

    texts = ["", "the cafe", CORPUS[3], " ".join(CORPUS[4:7]), "Café " + UNKNOWN_WORD]
    spec = tf.TensorSpec([None], tf.string)
    single = tf.function(lambda x: pre(x), input_signature=[spec])
    pair = tf.function(lambda a, b: pre((a, b)), input_signature=[spec, spec])
    for fn, inputs, expected in [
        (single, {"x": texts}, pre(texts)),
        (pair, {"a": texts, "b": texts[::-1]}, pre((texts, texts[::-1]))),
    ]:
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [fn.get_concrete_function()], pre
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = True
        interpreter = litert.InterpreterWithCustomOps(
            custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
            model_content=converter.convert(),
        )
        ops = {d["op_name"] for d in interpreter._get_ops_details()}
        assert not {"RaggedRange", "RaggedGather", "UnicodeTranscode"} & ops
        assert not any(op.startswith("Flex") for op in ops)
        feed = {k: np.array([t.encode() for t in v], dtype=object) for k, v in inputs.items()}
        got = interpreter.get_signature_runner()(**feed)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key].numpy())
