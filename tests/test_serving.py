"""The REST server: TF Serving's API over the tiny export, real HTTP clients on 127.0.0.1."""

import base64
import http.client
import io
import json
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))

from export_fixtures import scratch_dir, tiny_export  # noqa: E402

# Pretrains and exports a tiny run once (~45 s on 2 idle cores), so the module is `slow`.
pytestmark = pytest.mark.slow

CLIENTS, REQUESTS_PER_CLIENT = 8, 50


@pytest.fixture(scope="module")
def exported():
    return tiny_export()


@pytest.fixture(scope="module")
def served(exported):
    """A copy of the export served on a free port (tests add versions to the copy)."""
    from mmpretrain.serving.rest_server import make_server

    base = os.path.join(scratch_dir(), "served_models")
    if not os.path.exists(base):
        shutil.copytree(os.path.dirname(os.path.dirname(exported[0].encoder_dir)), base)
    server = make_server(base, port=0, max_body_bytes=2_000_000).start_in_thread()
    yield server, exported
    server.stop()


def call(server, method, path, body=None, raw=None, timeout=30):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


_LOADED = {}


def direct(exported, signature, feed):
    """The signature called in this process (no server in between)."""
    path = exported[0].encoder_dir
    if path not in _LOADED:
        _LOADED[path] = tf.saved_model.load(path)
    loaded = _LOADED[path]
    return {k: v.numpy() for k, v in loaded.signatures[signature](**feed).items()}


def test_binds_to_localhost_by_default():
    import argparse

    from mmpretrain.serving.cli import add_serve_parser

    parser = argparse.ArgumentParser()
    add_serve_parser(parser.add_subparsers())
    args = parser.parse_args(["serve"])
    assert (args.dir, args.host, args.port) == ("saved_models", "127.0.0.1", 8501)


def test_status_and_metadata_follow_tf_serving(served):
    server, _ = served
    assert server.server_address[0] == "127.0.0.1"
    status, body = call(server, "GET", "/v1/models/tiny")
    assert status == 200
    assert body == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    status, body = call(server, "GET", "/v1/models/tiny/versions/1/metadata")
    assert status == 200 and body["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serve_text", "serve_image", "serve_audio", "serving_default"} <= set(signatures)
    assert signatures["serve_text"]["inputs"]["text"]["dtype"] == "DT_STRING"
    assert signatures["serve_image"]["inputs"]["images"]["dtype"] == "DT_UINT8"
    assert set(signatures["serve_audio"]["inputs"]) == {"waveforms", "lengths"}
    assert signatures["serve_text"]["method_name"] == "tensorflow/serving/predict"


def request_kinds(exported):
    """(name, path, body, signature, direct feed, row format) for each kind of request."""
    _, _, samples = exported
    texts = [t.decode() for t in samples["text"]["text"][:2]]
    images = samples["image"]["images"][:2]
    clips = [samples["audio"]["waveforms"][i, : samples["audio"]["lengths"][i]] for i in range(2)]
    width = max(len(c) for c in clips)
    padded = np.stack([np.pad(c, (0, width - len(c))) for c in clips])
    lengths = np.array([len(c) for c in clips], np.int32)
    return [
        ("text rows", "/v1/models/tiny:predict", {"signature_name": "serve_text", "instances": texts},
         "serve_text", {"text": tf.constant([t.encode() for t in texts])}, True),
        ("image columns", "/v1/models/tiny/versions/1:predict",
         {"signature_name": "serve_image", "inputs": {"images": images.tolist()}},
         "serve_image", {"images": tf.constant(images)}, False),
        ("audio rows", "/v1/models/tiny:predict",
         {"signature_name": "serve_audio", "instances": [{"waveforms": c.tolist()} for c in clips]},
         "serve_audio", {"waveforms": tf.constant(padded), "lengths": tf.constant(lengths)}, True),
    ]


def check_same(body, want, row_format, keys=("pooled_output", "sequence_output", "padding_mask")):
    for key in keys:
        if row_format:
            got = np.array([p[key] for p in body["predictions"]])
        else:
            got = np.array(body["outputs"][key])
        np.testing.assert_array_equal(got.astype(want[key].dtype), want[key], err_msg=key)


def test_concurrent_clients_get_direct_call_results(served):
    server, exported = served
    kinds = request_kinds(exported)
    expected = {name: direct(exported, signature, feed) for name, _, _, signature, feed, _ in kinds}
    errors, counts, lock = [], [0], threading.Lock()

    def client(index):
        for j in range(REQUESTS_PER_CLIENT):
            name, path, body, _, _, rows = kinds[(index + j) % len(kinds)]
            try:
                status, answer = call(server, "POST", path, body)
                assert status == 200, answer
                check_same(answer, expected[name], rows)
            except Exception as err:  # collected, reported below
                with lock:
                    errors.append(f"client {index} request {j} ({name}): {err!r:.300}")
            with lock:
                counts[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    seconds = time.perf_counter() - started
    assert not any(t.is_alive() for t in threads), "clients still running after 150 s"
    assert counts[0] == CLIENTS * REQUESTS_PER_CLIENT
    assert errors == [], errors[:5]
    print(f"\n{counts[0]} requests from {CLIENTS} clients in {seconds:.1f} s "
          f"({counts[0] / seconds:.0f} requests/s), {len(errors)} errors")


def test_b64_images_and_audio_files(served):
    import soundfile

    server, exported = served
    _, _, samples = exported
    image = samples["image"]["images"][0]
    png = tf.io.encode_png(tf.constant(image)).numpy()
    status, body = call(server, "POST", "/v1/models/tiny:predict", {
        "signature_name": "serve_image", "instances": [{"b64": base64.b64encode(png).decode()}]})
    assert status == 200, body
    check_same(body, direct(exported, "serve_image", {"images": tf.constant(image[None])}), True)

    clip = samples["audio"]["waveforms"][1, : samples["audio"]["lengths"][1]]
    buffer = io.BytesIO()
    soundfile.write(buffer, clip, 16000, format="WAV", subtype="PCM_16")
    decoded = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")[0]
    status, body = call(server, "POST", "/v1/models/tiny:predict", {
        "signature_name": "serve_audio",
        "instances": [{"waveforms": {"b64": base64.b64encode(buffer.getvalue()).decode()}}]})
    assert status == 200, body
    want = direct(exported, "serve_audio", {"waveforms": tf.constant(decoded[None]),
                                            "lengths": tf.constant([len(decoded)])})
    check_same(body, want, True)

    # A padded clip with a mask (1 = valid sample) equals the same clip with its lengths.
    padded = np.concatenate([decoded, np.zeros(800, np.float32)])
    mask = [1] * len(decoded) + [0] * 800
    status, body = call(server, "POST", "/v1/models/tiny:predict", {
        "signature_name": "serve_audio", "instances": [{"waveforms": padded.tolist(), "mask": mask}]})
    assert status == 200, body
    check_same(body, direct(exported, "serve_audio", {"waveforms": tf.constant(padded[None]),
                                                      "lengths": tf.constant([len(decoded)])}), True)


def test_hub_text_models_are_served(served):
    server, exported = served
    _, run, samples = exported
    texts = [t.decode() for t in samples["text"]["text"][:2]]
    status, body = call(server, "POST", "/v1/models/tiny_text_preprocess:predict",
                        {"instances": texts})
    assert status == 200, body
    ids = body["predictions"]
    status, body = call(server, "POST", "/v1/models/tiny_text_encoder:predict", {"instances": ids})
    assert status == 200, body
    status, text = call(server, "POST", "/v1/models/tiny:predict",
                        {"signature_name": "serve_text", "instances": texts})
    got = np.array([p["pooled_output"] for p in body["predictions"]])
    want = np.array([p["pooled_output"] for p in text["predictions"]])
    assert np.abs(got - want).max() <= 1e-5


def bad_requests(samples):
    """(what, method, path, body or raw bytes, expected status, message fragment)."""
    text = {"signature_name": "serve_text"}
    audio = {"signature_name": "serve_audio"}
    image = {"signature_name": "serve_image"}
    nan = [0.1] * 100 + [float("nan")]
    return [
        ("malformed JSON", "POST", "/v1/models/tiny:predict", b'{"instances": [', 400, "Malformed JSON"),
        ("not an object", "POST", "/v1/models/tiny:predict", b"[1, 2]", 400, "must be an object"),
        ("no instances", "POST", "/v1/models/tiny:predict", {"signature_name": "serve_text"}, 400, "exactly one of"),
        ("empty batch", "POST", "/v1/models/tiny:predict", {**text, "instances": []}, 400, "Empty batch"),
        ("empty columns", "POST", "/v1/models/tiny:predict", {**image, "inputs": {"images": []}}, 400, "Empty batch"),
        ("image rank", "POST", "/v1/models/tiny:predict", {**image, "instances": [[[1, 2], [3, 4]]]}, 400, "expected rank 3"),
        ("image channels", "POST", "/v1/models/tiny:predict", {**image, "instances": [np.zeros((8, 8, 3), int).tolist()]}, 400, "axis 3 must have size 1"),
        ("image dtype", "POST", "/v1/models/tiny:predict", {**image, "instances": [[[["x"]]]]}, 400, "expected numbers"),
        ("image range", "POST", "/v1/models/tiny:predict", {**image, "instances": [[[[300]]]]}, 400, "[0, 255]"),
        ("image floats", "POST", "/v1/models/tiny:predict", {**image, "instances": [[[[0.5]]]]}, 400, "integers"),
        ("ragged image", "POST", "/v1/models/tiny:predict", {**image, "instances": [[[[1]], [[1], [2]]]]}, 400, "ragged"),
        ("not an image file", "POST", "/v1/models/tiny:predict", {**image, "instances": [{"b64": base64.b64encode(b"GIF8 nope").decode()}]}, 400, "not an image file"),
        ("bad base64", "POST", "/v1/models/tiny:predict", {**text, "instances": [{"b64": "%%%not base64"}]}, 400, "does not decode as base64"),
        ("non-UTF-8 text", "POST", "/v1/models/tiny:predict", {**text, "instances": [{"b64": base64.b64encode(b"caf\xe9").decode()}]}, 400, "not valid UTF-8"),
        ("lone surrogate", "POST", "/v1/models/tiny:predict", b'{"signature_name": "serve_text", "instances": ["\\ud800"]}', 400, "not valid UTF-8"),
        ("text dtype", "POST", "/v1/models/tiny:predict", {**text, "instances": [3]}, 400, "expected a string"),
        ("NaN audio", "POST", "/v1/models/tiny:predict", {**audio, "instances": [{"waveforms": nan}]}, 400, "finite"),
        ("empty clip", "POST", "/v1/models/tiny:predict", {**audio, "instances": [{"waveforms": []}]}, 400, "empty"),
        ("bad lengths", "POST", "/v1/models/tiny:predict", {**audio, "instances": [{"waveforms": [0.1] * 50, "lengths": 99}]}, 400, "lengths of instance 0"),
        ("audio wrong input", "POST", "/v1/models/tiny:predict", {**audio, "instances": [{"wave": [0.1]}]}, 400, "missing ['waveforms']"),
        ("unknown signature", "POST", "/v1/models/tiny:predict", {"signature_name": "serve_video", "instances": [1]}, 400, "serve_video"),
        ("unknown model", "POST", "/v1/models/nope:predict", {"instances": ["x"]}, 404, "available models"),
        ("unknown version", "POST", "/v1/models/tiny/versions/7:predict", {"instances": ["x"]}, 404, "no version 7"),
        ("unknown version status", "GET", "/v1/models/tiny/versions/7", None, 404, "no version 7"),
        ("unknown path", "GET", "/v2/models", None, 404, "Unknown path"),
        ("unknown verb", "POST", "/v1/models/tiny:explain", {"instances": ["x"]}, 404, ":predict"),
        ("wrong method", "DELETE", "/v1/models/tiny", None, 405, "not allowed"),
    ]


def test_bad_requests_get_4xx_with_a_message_and_the_server_goes_on(served):
    server, exported = served
    _, _, samples = exported
    good = {"signature_name": "serve_text", "instances": ["still serving"]}
    for what, method, path, body, status, fragment in bad_requests(samples):
        raw = body if isinstance(body, bytes) else None
        got, answer = call(server, method, path, None if raw else body, raw=raw)
        assert got == status, (what, got, answer)
        assert set(answer) == {"error"} and fragment in answer["error"], (what, answer)
        assert call(server, "POST", "/v1/models/tiny:predict", good)[0] == 200, what


def test_oversize_and_unsized_bodies_are_refused_before_reading(served):
    server, _ = served
    host, port = server.server_address[:2]
    for headers, status, fragment in (
        ({"Content-Length": str(50_000_000)}, 413, "at most 2000000"),
        ({"Transfer-Encoding": "chunked"}, 411, "Chunked"),
        ({}, 411, "Content-Length"),
    ):
        connection = http.client.HTTPConnection(host, port, timeout=10)
        connection.putrequest("POST", "/v1/models/tiny:predict")
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders()  # no body sent
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == status and fragment in answer["error"], answer
        connection.close()
    assert call(server, "GET", "/v1/models/tiny")[0] == 200


def test_a_new_version_is_picked_up_and_becomes_the_default(served):
    server, _ = served
    base = server.repository.base_dir
    staged = os.path.join(base, "tiny", ".tmp-copy")
    shutil.copytree(os.path.join(base, "tiny", "1"), staged)
    os.rename(staged, os.path.join(base, "tiny", "2"))  # how exports publish
    status, body = call(server, "GET", "/v1/models/tiny")
    assert [v["version"] for v in body["model_version_status"]] == ["2", "1"]
    assert call(server, "GET", "/v1/models/tiny/metadata")[1]["model_spec"]["version"] == "2"
    status, body = call(server, "POST", "/v1/models/tiny/versions/2:predict",
                        {"signature_name": "serve_text", "instances": ["hello"]})
    assert status == 200 and len(body["predictions"][0]["pooled_output"]) == 64


def png_header(width, height):
    """The first bytes of a grayscale PNG that declares width x height (no pixel data)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_b64_files_are_bounded_before_decoding(served):
    """Huge declared images and absurd sample rates get a 400; long audio is cut to the model's
    max_audio_seconds before it is resampled."""
    import soundfile

    from mmpretrain.modalities import audio_io

    server, exported = served
    _, run, _ = exported
    huge = base64.b64encode(png_header(5000, 5000)).decode()
    status, body = call(server, "POST", "/v1/models/tiny:predict",
                        {"signature_name": "serve_image", "instances": [{"b64": huge}]})
    assert status == 400 and "5000x5000" in body["error"] and str(4096 * 4096) in body["error"], body

    def wav(clip, rate):
        buffer = io.BytesIO()
        soundfile.write(buffer, clip, rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()

    tone = (0.3 * np.sin(np.arange(4000) / 3.0)).astype(np.float32)
    status, body = call(server, "POST", "/v1/models/tiny:predict", {
        "signature_name": "serve_audio", "instances": [{"waveforms": {"b64": base64.b64encode(wav(tone, 500)).decode()}}]})
    assert status == 400 and "500 Hz" in body["error"], body

    seconds = run.preprocessors["audio"].max_seconds
    long = (0.3 * np.sin(np.arange(int(8000 * seconds * 3)) / 5.0)).astype(np.float32)
    data = wav(long, 8000)
    status, body = call(server, "POST", "/v1/models/tiny:predict", {
        "signature_name": "serve_audio", "instances": [{"waveforms": {"b64": base64.b64encode(data).decode()}}]})
    assert status == 200, body
    cut = audio_io.decode_audio(io.BytesIO(data), "clip", 16000, max_seconds=seconds)
    assert len(cut) <= 16000 * seconds + 2
    want = direct(exported, "serve_audio", {"waveforms": tf.constant(cut[None]), "lengths": tf.constant([len(cut)])})
    check_same(body, want, True)
    assert call(server, "GET", "/v1/models/tiny")[0] == 200
