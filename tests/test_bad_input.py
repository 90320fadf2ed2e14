"""Bad input over every entry point: ONE table of cases per kind of input, looped over EVERY
entry point that takes that kind, so a new entry point gets the whole table by adding its id
to ENTRY_POINTS and (for a new family) one runner to RUNNERS.

Entry points (ids, "family:detail"):
    pipeline:<task>        mmpretrain.pipeline(task) on the tiny app models
    load                   mmpretrain.load(encoder) (modality= only for paths and bytes)
    server:<model>[/<sig>] real HTTP on 127.0.0.1 against make_server(..., port=0)
    data:<loader>          mmpretrain.data.load_text_files / load_image_folder / load_audio_folder
    cli                    `python -m mmpretrain.cli ...` in a subprocess (its own table)

Each entry point reads a case in its own form: the Python API takes `value`; the server takes
text values as JSON strings (bytes as {"b64"}), images and audio as {"b64": file} when the case
has a file form (`file`, or `value` that is already encoded bytes) and as nested lists
otherwise; the data loaders write the file form into a user folder (class sub-folders beside
good files) or take `value` as the path argument.

What a bad case must give (the error TYPE, then the KEY WORDS of `error` / `errors`):
    pipeline, load   ValueError whose message matches
    server           4xx and exactly {"error": message} matching (never 500; the server goes on)
    data             ValueError, or the file skipped with a DataWarning naming it (no example)
    cli              non-zero exit, no traceback, stderr matching
A valid case (error None) must give exactly ONE answer, and with `reference` the same answer
as the reference input (a 10-minute clip answers as its first max_audio_seconds).

The models are the tiny app models of tests/app_fixtures.py (the session directory that
tests/test_pipelines.py and tests/test_apps.py use), built in ~1 minute when this file runs
alone, so the module is `slow`.
"""

import base64
import concurrent.futures
import contextlib
import dataclasses
import functools
import http.client
import io
import json
import os
import re
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
import zlib

import numpy as np
import pytest
from test_case import assert_all_close

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY_FOLDER = "<an empty folder>"  # a `value` only the data loaders read: they get an empty dir
MISSING = "/nonexistent/mmpretrain-bad-input/none"


# === Inputs ===


def png(array):
    """PNG bytes of a uint8 [H, W] / [H, W, C] array (C = 2: LA, 4: RGBA)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@functools.lru_cache(maxsize=None)
def bomb_png(width, height):
    """A 1-bit black PNG of width x height: 14000 x 14000 is ~24 KB and 196 M pixels."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def wav(clip, rate, subtype="PCM_16"):
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(clip, np.float32), rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def tone(seconds, rate=16000, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    clip = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([clip, 0.5 * clip], axis=1) if channels == 2 else clip


def fake_rate_wav(rate):
    """A real 16-bit WAV whose header claims `rate` Hz (4000 samples: 500 s at 8 Hz)."""
    data = bytearray(wav(tone(0.5, 8000), 8000))
    data[24:28] = struct.pack("<I", rate)  # fmt: sample rate
    data[28:32] = struct.pack("<I", rate * 2)  # fmt: byte rate
    return bytes(data)


def with_nan(clip):
    clip = clip.copy()
    clip[100] = np.nan
    return clip


def rng_image(shape):
    return np.random.default_rng(sum(shape)).integers(0, 256, size=shape, dtype=np.uint8)


# === The tables ===


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity (values may be arrays)
class Case:
    """One input. `value` may be a callable (built on first use, once)."""

    kind: str  # text | image | audio
    name: str
    value: object
    error: str = None  # regex the message must match; None: a valid input (one answer)
    errors: tuple = ()  # ((family or entry id, regex), ...) where the message differs
    file: object = None  # bytes or callable: the same input as a file (server b64, data loaders)
    reference: object = None  # a valid case's Case that must give the same answer
    only: tuple = None  # the families the case is for (default: every family that can read it)
    undecoded: bool = False  # refused before decoding: no image of > MAX_IMAGE_PIXELS is loaded,
    #                          no clip of a rate < 1000 Hz is resampled (the costly part)
    max_resampled_seconds: float = None  # no longer clip is resampled (cut BEFORE resampling)

    def get(self, field="value"):
        return _materialize(self, field)

    def pattern(self, entry):
        family = entry.split(":")[0]
        overrides = dict(self.errors)
        return overrides.get(entry, overrides.get(family, self.error))

    def file_bytes(self):
        """The file form: `file`, or `value` when it is already encoded bytes (else None)."""
        data = self.get("file")
        if data is None and self.kind != "text" and isinstance(self.get(), bytes):
            data = self.get()
        return data


@functools.lru_cache(maxsize=None)
def _materialize(case, field):
    value = getattr(case, field)
    return value() if callable(value) else value


LONG_TEXT = "word " * 5000  # far beyond the 24 tokens of the tiny models

TEXT_CASES = [
    Case("text", "empty string", "", r"input 0 is an empty string",
         errors=(("server", r"is an empty string"), ("data", r"hold no non-blank text"))),
    Case("text", "whitespace only", " \t\n ", r"is an empty string \(only whitespace\)",
         errors=(("data", r"hold no non-blank text"),)),
    Case("text", "lone surrogate", "bad \ud800 movie", r"not valid Unicode.*surrogate",
         errors=(("data", r"not UTF-8 text: byte b'\\xed' at offset 4"),)),
    Case("text", "non-UTF-8 bytes", b"caf\xe9 \xff", r"bytes that are not valid UTF-8 \(byte 3",
         errors=(("server", r"not valid UTF-8"), ("data", r"not UTF-8 text: byte b'\\xe9' at offset 3"))),
    Case("text", "int", 42, r"\bint\b"),
    Case("text", "None", None, r"NoneType"),
    Case("text", "dict", {"sentence": "hi"}, r"\bdict\b",
         errors=(("server", r"must be exactly \{\"b64\".*received keys \['sentence'\]"),)),
    Case("text", "empty list", [], r"empty list", errors=(("server", r"Empty batch"),)),
    Case("text", "nested lists", [["a", "b"], ["c"]], r"nested"),
    Case("text", "very long text", LONG_TEXT, None, reference=Case("text", "truncated", "word " * 40)),
]

IMAGE_CASES = [
    Case("image", "grey+alpha [28,28,2]", lambda: rng_image((28, 28, 2)), None,
         file=lambda: png(rng_image((28, 28, 2)))),
    Case("image", "RGBA [28,28,4]", lambda: rng_image((28, 28, 4)), None,
         file=lambda: png(rng_image((28, 28, 4)))),
    Case("image", "channels-first [3,28,28]", lambda: rng_image((3, 28, 28)),
         r"\[3, 28, 28\].*channels-first"),
    Case("image", "float [28,28,3] in [0,1]",
         lambda: np.random.default_rng(1).random((28, 28, 3)).astype(np.float32), r"uint8",
         errors=(("load", r"images are uint8"),)),
    Case("image", "[28,28,5]", lambda: rng_image((28, 28, 5)), r"\[28, 28, 5\].*channel"),
    Case("image", "0-sized [28,0,3]", np.zeros((28, 0, 3), np.uint8), r"empty"),
    Case("image", "corrupt bytes", b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4,
         r"the file is corrupt or not an image",
         errors=(("server", r"not an image file"), ("data", r"case\.png: cannot decode it as an image"))),
    Case("image", "decompression bomb 14000x14000", lambda: bomb_png(14000, 14000), r"196000000 pixels",
         undecoded=True),
    Case("image", "bomb under PIL's own limit 6000x6000", lambda: bomb_png(6000, 6000),
         r"6000x6000 image \(36000000 pixels\); at most 16777216 pixels", undecoded=True),
    Case("image", "missing file", MISSING + ".png", r"no file at",
         errors=(("data", r"is not a folder"),)),
    Case("image", "empty folder", EMPTY_FOLDER, r"has no class sub-folders", only=("data",)),
]

MAX_SECONDS = 1.0  # the tiny models' max_audio_seconds
AUDIO_CASES = [
    Case("audio", "stereo channels-last [1600,2]", lambda: tone(0.1, channels=2), None,
         file=lambda: wav(tone(0.1, channels=2), 16000)),
    Case("audio", "0-sample clip", np.zeros(0, np.float32), r"0 samples",
         file=lambda: wav(np.zeros(0, np.float32), 16000)),
    Case("audio", "NaN samples", lambda: with_nan(tone(0.5)), r"NaN"),
    Case("audio", "NaN samples in a float WAV", lambda: wav(with_nan(tone(0.5)), 16000, "FLOAT"),
         r"1 NaN/Inf samples"),
    Case("audio", "int16 samples", lambda: (tone(0.5) * 32767).astype(np.int16), r"integer PCM.*/ 32768"),
    Case("audio", "WAV header claims 8 Hz", lambda: fake_rate_wav(8), r"\b8 Hz.*1000 to 384000 Hz",
         undecoded=True),
    Case("audio", "dict sampling_rate 0", lambda: {"array": tone(0.5), "sampling_rate": 0},
         r"sampling_rate=0.*positive int"),
    Case("audio", "10-minute clip", lambda: tone(600.0), None,
         file=lambda: wav(tone(600.0, 4000), 4000), max_resampled_seconds=10.0,
         reference=Case("audio", "its first second", lambda: tone(MAX_SECONDS),
                        file=lambda: wav(tone(MAX_SECONDS, 4000), 4000))),
    Case("audio", "corrupt bytes", b"RIFF\x00\x00\x00\x00WAVEfmt junk", r"the file is corrupt or not wav/flac/ogg",
         errors=(("data", r"case\.wav: cannot decode it as audio"),)),
    Case("audio", "[N,T,C] 3-D float", np.zeros((2, 1600, 2), np.float32), r"\[2, 1600, 2\].*\[N, T\]",
         errors=(("server", r"\[2, 1600, 2\] \(nested lists"),)),
    Case("audio", "missing file", MISSING + ".wav", r"no file at", errors=(("data", r"is not a folder"),)),
    Case("audio", "empty folder", EMPTY_FOLDER, r"has no class sub-folders", only=("data",)),
]

CASES = {"text": TEXT_CASES, "image": IMAGE_CASES, "audio": AUDIO_CASES}

ENTRY_POINTS = {
    "text": ["pipeline:sentiment-analysis", "pipeline:fill-mask", "pipeline:feature-extraction", "load",
             "server:sentiment", "server:fill_mask", "server:mmpretrain_tiny/serve_text",
             "data:load_text_files"],
    "image": ["pipeline:image-classification", "load", "server:image_classification",
              "server:mmpretrain_tiny/serve_image", "data:load_image_folder"],
    "audio": ["pipeline:audio-classification", "load", "server:keyword_spotting",
              "server:mmpretrain_tiny/serve_audio", "data:load_audio_folder"],
}


def applies(case, entry):
    """Whether `entry` can read `case` at all (a server has no file paths, a data loader no arrays)."""
    family = entry.split(":")[0]
    if case.only is not None:
        return family in case.only
    value = case.get()
    if family == "server" and case.kind != "text":
        return case.file_bytes() is not None or isinstance(value, np.ndarray)
    if family == "data" and case.kind != "text":
        return case.file_bytes() is not None or isinstance(value, str)
    return True


# Server-only requests: (name, method, path, JSON body or raw bytes, headers, status, regex).
SERVER_CASES = [
    ("malformed JSON", "POST", "/v1/models/sentiment:predict", b'{"instances": [', {}, 400, r"Malformed JSON"),
    ("JSON not an object", "POST", "/v1/models/sentiment:predict", b'["a"]', {}, 400, r"must be an object"),
    ("body not UTF-8", "POST", "/v1/models/sentiment:predict", b'\xff\xfe{"instances": ["a"]}', {}, 400,
     r"body is not UTF-8"),
    ("no instances or inputs", "POST", "/v1/models/sentiment:predict", {"signature_name": "serving_default"}, {},
     400, r"exactly one of 'instances'"),
    ("unknown request key", "POST", "/v1/models/sentiment:predict", {"instances": ["a"], "colour": 1}, {}, 400,
     r"Unknown request keys \['colour'\]"),
    ("unknown model", "POST", "/v1/models/nope:predict", {"instances": ["a"]}, {}, 404,
     r"Model 'nope' not found.*available models"),
    ("unknown version", "POST", "/v1/models/sentiment/versions/9:predict", {"instances": ["a"]}, {}, 404,
     r"no version 9; available versions: \[1\]"),
    ("non-numeric version", "POST", "/v1/models/sentiment/versions/latest:predict", {"instances": ["a"]}, {}, 404,
     r"no version latest"),
    ("unknown signature", "POST", "/v1/models/mmpretrain_tiny:predict",
     {"signature_name": "serve_video", "instances": ["a"]}, {}, 400, r"Unknown signature_name 'serve_video'"),
    ("unknown verb", "POST", "/v1/models/sentiment:classify", {"instances": ["a"]}, {}, 404, r"':classify'.*':predict'"),
    ("unknown path", "GET", "/v2/models/sentiment", None, {}, 404, r"Unknown path"),
    ("wrong method", "DELETE", "/v1/models/sentiment", None, {}, 405, r"Method DELETE is not allowed"),
    ("oversized body", "POST", "/v1/models/sentiment:predict", None, {"Content-Length": str(50_000_000)}, 413,
     r"50000000 bytes; this server accepts at most"),
    ("no Content-Length", "POST", "/v1/models/sentiment:predict", None, {}, 411, r"Content-Length"),
    ("wrong dtype: strings for an image", "POST", "/v1/models/image_classification:predict",
     {"instances": [[[["x"]]]]}, {}, 400, r"expected numbers for uint8"),
    ("wrong shape: image of rank 2", "POST", "/v1/models/image_classification:predict",
     {"instances": [[[1, 2], [3, 4]]]}, {}, 400, r"expected rank 3"),
    ("image values beyond uint8", "POST", "/v1/models/image_classification:predict",
     {"instances": [[[[300]]]]}, {}, 400, r"\[0, 255\]"),
    ("ragged nested lists", "POST", "/v1/models/image_classification:predict",
     {"instances": [[[[1]], [[1], [2]]]]}, {}, 400, r"ragged"),
    ("b64 for an int input", "POST", "/v1/models/keyword_spotting:predict",
     {"instances": [{"waveforms": [0.1] * 10, "lengths": {"b64": "AAAA"}}]}, {}, 400,
     r"b64 values are accepted for strings, images and waveforms, not for int32"),
    ("lengths beyond the clip", "POST", "/v1/models/keyword_spotting:predict",
     {"instances": [{"waveforms": [0.1] * 10, "lengths": 99}]}, {}, 400, r"lengths of instance 0: must lie in \[1, 10\]"),
    ("bad base64", "POST", "/v1/models/sentiment:predict", {"instances": [{"b64": "%%% not base64"}]}, {}, 400,
     r"does not decode as base64"),
]

# CLI-only: (name, argv after `python -m mmpretrain.cli`, regex of stderr). {tmp}: a scratch
# directory (the working directory), {missing}: a path that does not exist, {empty}: an empty one.
CLI_CASES = [
    ("--set learning_rate=-1e-3", ["pretrain", "--set", "learning_rate=-1e-3"],
     r"learning_rate=-0\.001; accepted range: learning_rate > 0"),
    ("--set steps=abc", ["pretrain", "--set", "steps=abc"], r"steps='abc' \(type str\); steps must be an integer"),
    ("--set dropout=1.5", ["pretrain", "--set", "dropout=1.5"], r"dropout=1\.5; accepted range: 0 <= dropout < 1"),
    ("--set image_channels=2", ["pretrain", "--set", "image_channels=2"],
     r"image_channels=2; accepted range: image_channels is 1 \(grayscale\) or 3 \(RGB\)"),
    ("--set warmup_steps >= steps", ["pretrain", "--set", "steps=5", "--set", "warmup_steps=10"],
     r"warmup_steps=10 with steps=5"),
    ("--set unknown key", ["pretrain", "--set", "colour=3"], r"unknown keys \['colour'\]; accepted keys"),
    ("unknown --config", ["pretrain", "--config", "nope"], r"Unknown config 'nope'; available: \['mini', 'multilingual', 'small', 'speech', 'tiny'\]"),
    ("--text matching no file", ["pretrain", "--run-dir", "{tmp}/run", "--no-progress", "--text", "{missing}/*.txt"],
     r"text path '.*\*\.txt', which matches no file"),
    ("--strategy unknown", ["pretrain", "--strategy", "tpu"], r"argument --strategy: invalid choice: 'tpu'"),
    ("export a missing run dir", ["export", "{missing}"], r"Run directory '.*none' does not exist"),
    ("export a dir that is no run", ["export", "{empty}"], r"is not a pretraining run directory: it has no config\.json"),
    ("serve a missing model dir", ["serve", "{missing}"], r"Model directory '.*none' does not exist"),
    ("serve --port 70000", ["serve", "{empty}", "--port", "70000"], r"port must be an integer in 0\.\.65535.*received 70000"),
    ("serve --port abc", ["serve", "{empty}", "--port", "abc"], r"argument --port: invalid int value: 'abc'"),
    ("serve --max-body-bytes 0", ["serve", "{empty}", "--max-body-bytes", "0"],
     r"max_body_bytes must be a positive integer; received 0"),
    ("data list unknown source", ["data", "list", "zzz"], r"Unknown source\(s\) \['zzz'\]"),
    ("unknown command", ["finetune-everything"], r"invalid choice: 'finetune-everything'"),
]

PAIRS = [(case, entry) for kind, cases in CASES.items() for case in cases for entry in ENTRY_POINTS[kind]
         if applies(case, entry)]
CASES_BY_ENTRY_POINT = {}
for _case, _entry in PAIRS:
    CASES_BY_ENTRY_POINT.setdefault(_entry.split(":")[0], []).append((f"{_case.kind}: {_case.name}", _entry))
CASES_BY_ENTRY_POINT.setdefault("server", []).extend((f"server: {c[0]}", "server") for c in SERVER_CASES)
CASES_BY_ENTRY_POINT["cli"] = [(f"cli: {c[0]}", "cli") for c in CLI_CASES]


def pair_id(pair):
    case, entry = pair
    return f"{case.kind}-{case.name}@{entry}"


# === Fixtures ===


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Every CLI case, 2 at a time (a `pretrain` case imports TensorFlow: ~4 s of CPU on an idle
    core), niced to 19 so they run on the CPU the model builds leave idle -> {name: future of
    CompletedProcess}."""
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "empty").mkdir()
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    fill = {"tmp": str(tmp), "missing": MISSING, "empty": str(tmp / "empty")}

    def run(argv):
        command = [sys.executable, "-m", "mmpretrain.cli", *[a.format(**fill) for a in argv]]
        process = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:  # lowest priority: they use the CPU the model builds and the other tests leave idle
            os.setpriority(os.PRIO_PROCESS, process.pid, 19)
        except (OSError, AttributeError):
            pass
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    futures = {name: pool.submit(run, argv) for name, argv, _ in CLI_CASES}
    yield futures
    pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory, cli_runs):  # the CLI cases start first, at the lowest priority
    """The tiny app models, their pipelines (built once), the encoder, a REST server over them."""
    from app_fixtures import tiny_app_models

    import mmpretrain
    from mmpretrain.serving.rest_server import make_server

    built = tiny_app_models(tmp_path_factory.getbasetemp() / "mmpretrain-apps")
    encoder_dir, output = built["encoder"], built["output"]
    server = make_server(output, port=0, preload=False).start_in_thread()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMPRETRAIN_SAVED_MODELS", output)
        pipelines = {}

        def pipeline(task):
            if task not in pipelines:
                pipelines[task] = mmpretrain.pipeline(task)
            return pipelines[task]

        yield {"pipeline": pipeline, "encoder": mmpretrain.load(encoder_dir), "server": server,
               "tmp": tmp_path_factory.mktemp("bad-input-data"), "output": output}
    server.stop()


# === Runners: (entry, case, env) -> Outcome ===


@dataclasses.dataclass
class Outcome:
    kind: str  # "error" (a refusal), "refused" (a data file skipped with a warning) or "ok"
    message: str = ""
    answers: int = None
    result: object = None


def api_call(call, count):
    """ValueError -> an error outcome; any other exception fails the test (a raw exception)."""
    try:
        result = call()
    except ValueError as err:
        return Outcome("error", str(err))
    return Outcome("ok", answers=count(result), result=result)


def run_pipeline(entry, case, env):
    task = entry.split(":", 1)[1]
    value = case.get()
    if task == "fill-mask" and case.error is None and isinstance(value, str):
        value = "[MASK] " + value  # a valid fill-mask text has its one [MASK]
    pipe = env["pipeline"](task)
    if task == "sentiment-analysis":  # HF: one {label, score} per input
        def count(result):
            return len(result)
    elif task == "feature-extraction":  # one [[tokens x D]] per input
        def count(result):
            return len(result) if np.asarray(result).ndim == 4 else 1
    else:  # one ranked list of {label, score} / tokens per input
        def count(result):
            return 1 if isinstance(result[0], dict) else len(result)
    return api_call(lambda: pipe(value), count)


def run_load(entry, case, env):
    value, embed = case.get(), env["encoder"]
    # load() guesses the modality of arrays and strings; file paths and bytes name it (its API).
    by_name = case.kind != "text" and isinstance(value, (str, bytes))
    return api_call(lambda: embed(value, modality=case.kind) if by_name else embed(value),
                    lambda result: int(result.shape[0]))


def post(server, method, path, body=None, raw=None, headers=None, timeout=120):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def server_instances(case):
    """The case as TF Serving instances: strings, {"b64": file} or nested lists."""
    value = case.get()
    if case.kind == "text":
        items = value if isinstance(value, list) else [value]
        return [{"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v for v in items]
    data = case.file_bytes()
    item = {"b64": base64.b64encode(data).decode()} if data is not None else value.tolist()
    return [{"waveforms": item}] if case.kind == "audio" else [item]


def run_server(entry, case, env):
    name, _, signature = entry.split(":", 1)[1].partition("/")
    body = {"instances": server_instances(case)}
    if signature:
        body["signature_name"] = signature
    status, answer = post(env["server"], "POST", f"/v1/models/{name}:predict", body)
    return server_outcome(status, answer)


def server_outcome(status, answer):
    if 400 <= status < 500:
        assert set(answer) == {"error"} and isinstance(answer["error"], str), (status, answer)
        return Outcome("error", answer["error"])
    assert status == 200, f"HTTP {status} (only 200 or 4xx are right answers): {answer}"
    return Outcome("ok", answers=len(answer["predictions"]), result=answer["predictions"])


def _fresh_dir(env, case, entry):
    path = env["tmp"] / re.sub(r"[^A-Za-z0-9]+", "_", f"{case.kind}-{case.name}-{entry}")
    path.mkdir()
    return path


def run_data_text(entry, case, env):
    from mmpretrain.data import load_text_files

    value = case.get()
    if isinstance(value, (str, bytes)):  # the text as a user's file
        path = _fresh_dir(env, case, entry) / "notes.txt"
        path.write_bytes(value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value)
        value = str(path)
    return api_call(lambda: load_text_files(value), len)


def _good_files(kind):
    from sklearn.datasets import load_digits

    if kind == "image":
        return png((load_digits().images[0] * 255 / 16).astype(np.uint8)), ".png"
    return wav(tone(0.5), 16000), ".wav"


def run_data_folder(entry, case, env):
    """Folders CLASS/*: the case's file beside good ones; a bad file must be skipped, naming it."""
    from mmpretrain import data

    loader = {"data:load_image_folder": data.load_image_folder, "data:load_audio_folder": data.load_audio_folder}[entry]
    value = case.get()
    if isinstance(value, str) and case.file_bytes() is None:  # a path: missing, or the empty folder
        root = str(_fresh_dir(env, case, entry)) if value == EMPTY_FOLDER else value
        return api_call(lambda: loader(root), len)
    root = _fresh_dir(env, case, entry)
    good, suffix = _good_files(case.kind)
    for folder in ("a", "b"):
        (root / folder).mkdir()
        (root / folder / f"good{suffix}").write_bytes(good)
    case_file = root / "b" / f"case{suffix}"
    case_file.write_bytes(case.file_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = loader(root)
        except ValueError as err:
            return Outcome("error", str(err))
    messages = [str(w.message) for w in caught if issubclass(w.category, data.DataWarning)]
    if str(case_file) in loaded.counts["skipped"]:
        assert len(loaded) == 2, "a skipped file must give no example"
        named = [m for m in messages if str(case_file) in m]
        assert named, f"no DataWarning names {case_file}: {messages}"
        return Outcome("refused", " ".join(named))
    assert not messages, messages
    if case.kind == "audio":
        clips = [c for split in loaded.split_names for c in loaded.inputs(split)]
        assert max(len(c) for c in clips) <= 10 * 16000  # load_audio_folder's max_seconds
    return Outcome("ok", answers=len(loaded) - 2, result=loaded)


RUNNERS = {
    "pipeline": run_pipeline,
    "load": run_load,
    "server": run_server,
    "data:load_text_files": run_data_text,
    "data:load_image_folder": run_data_folder,
    "data:load_audio_folder": run_data_folder,
}


def runner(entry):
    return RUNNERS.get(entry) or RUNNERS[entry.split(":")[0]]


@contextlib.contextmanager
def decoding_spy():
    """Records what is really decoded in this process (the server runs in a thread of it):
    {"pixels": [w * h of every PIL image loaded], "resampled": [(rate, samples) per resample]}."""
    from PIL import ImageFile

    from mmpretrain.modalities import audio_io

    seen = {"pixels": [], "resampled": []}
    load, resample = ImageFile.ImageFile.load, audio_io.resample

    def spy_load(self, *args, **kwargs):
        seen["pixels"].append(self.size[0] * self.size[1])
        return load(self, *args, **kwargs)

    def spy_resample(waveform, orig_sr, *args, **kwargs):
        seen["resampled"].append((orig_sr, int(np.shape(waveform)[-1])))
        return resample(waveform, orig_sr, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImageFile.ImageFile, "load", spy_load)
        patch.setattr(audio_io, "resample", spy_resample)
        yield seen


def without_echo(result):
    """An answer without the fields that echo the input (fill-mask's filled-in "sequence")."""
    if isinstance(result, dict):
        return {k: without_echo(v) for k, v in result.items() if k != "sequence"}
    if isinstance(result, list):
        return [without_echo(v) for v in result]
    return result


# === Tests ===


@pytest.mark.parametrize("case, entry", PAIRS, ids=[pair_id(p) for p in PAIRS])
def test_case_at_entry_point(case, entry, env):
    from mmpretrain.modalities.image_io import MAX_IMAGE_PIXELS

    with decoding_spy() as seen:
        outcome = runner(entry)(entry, case, env)
    if case.undecoded:
        assert max(seen["pixels"], default=0) <= MAX_IMAGE_PIXELS, f"decoded {max(seen['pixels'])} pixels"
        assert all(rate >= 1000 for rate, _ in seen["resampled"]), f"resampled {seen['resampled']}"
    if case.max_resampled_seconds is not None:
        longest = max((n / rate for rate, n in seen["resampled"]), default=0.0)
        assert longest <= case.max_resampled_seconds + 0.01, f"resampled {longest:.1f} s (cut first)"
    if case.error is None:
        assert outcome.kind == "ok", f"a valid input was refused: {outcome.message}"
        assert outcome.answers == 1, f"{outcome.answers} answers for one input"
        if case.reference is not None and not entry.startswith("data"):
            reference = runner(entry)(entry, case.reference, env)
            assert reference.kind == "ok", reference.message
            assert_all_close(without_echo(reference.result), without_echo(outcome.result), atol=1e-5)
        return
    pattern = case.pattern(entry)
    assert outcome.kind in ("error", "refused"), f"accepted bad input ({outcome.answers} answers)"
    assert re.search(pattern, outcome.message, re.DOTALL), f"{pattern!r} not in: {outcome.message}"


@pytest.mark.parametrize("name, method, path, body, headers, status, pattern", SERVER_CASES,
                         ids=[c[0] for c in SERVER_CASES])
def test_server_only_case(name, method, path, body, headers, status, pattern, env):
    server = env["server"]
    if headers:  # sent without a body: the server must answer from the headers alone
        host, port = server.server_address[:2]
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.putrequest(method, path)
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        got, answer = response.status, json.loads(response.read())
        connection.close()
    elif body is None and method == "POST":
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        connection.putrequest(method, path)  # no Content-Length header at all
        connection.endheaders()
        response = connection.getresponse()
        got, answer = response.status, json.loads(response.read())
        connection.close()
    else:
        raw = body if isinstance(body, bytes) else None
        got, answer = post(server, method, path, None if raw is not None else body, raw=raw)
    assert got == status, (got, answer)
    assert set(answer) == {"error"} and re.search(pattern, answer["error"]), answer
    assert post(server, "POST", "/v1/models/sentiment:predict", {"instances": ["still serving"]})[0] == 200


@pytest.mark.parametrize("name, argv, pattern", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_case(name, argv, pattern, cli_runs):
    result = cli_runs[name].result()
    assert result.returncode != 0, f"exit 0 for bad input: {result.stdout[-500:]}"
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert re.search(r"error", result.stderr) and re.search(pattern, result.stderr), result.stderr[-2000:]


def test_the_decoding_spy_sees_decoding():
    """The spy that proves "refused before decoding" does see a decoded image and a resample."""
    from mmpretrain.modalities import audio_io, image_io

    with decoding_spy() as seen:
        image_io.decode_image(io.BytesIO(png(rng_image((6, 5)))), "a PNG", 1)
        audio_io.decode_audio(io.BytesIO(wav(tone(0.25, 8000), 8000)), "a WAV", 16000)
    assert set(seen["pixels"]) == {30} and seen["resampled"] == [(8000, 2000)], seen


def test_summary_every_entry_point_gets_the_table():
    """Counts of (case, entry point) pairs per entry point; a kind's cases run at each of its
    entry points unless that entry point cannot read the form (a path at a server, ...)."""
    counts = {family: len(pairs) for family, pairs in CASES_BY_ENTRY_POINT.items()}
    by_entry = {}
    for case, entry in PAIRS:
        by_entry[entry] = by_entry.get(entry, 0) + 1
    print("\n(case, entry point) pairs per entry point: "
          + ", ".join(f"{family} {n}" for family, n in sorted(counts.items()))
          + f"; total {sum(counts.values())}")
    print("  " + ", ".join(f"{entry} {n}" for entry, n in sorted(by_entry.items())))
    assert len(CASES_BY_ENTRY_POINT["pipeline"]) >= 50
    assert len(CASES_BY_ENTRY_POINT["load"]) >= 25
    assert len(CASES_BY_ENTRY_POINT["server"]) >= 60
    assert len(CASES_BY_ENTRY_POINT["data"]) >= 25
    assert len(CASES_BY_ENTRY_POINT["cli"]) >= 15
    assert sum(counts.values()) >= 60
    for kind, entries in ENTRY_POINTS.items():  # a new entry point of a kind gets its whole table
        for entry in entries:
            assert runner(entry) is not None
            readable = [c for c in CASES[kind] if applies(c, entry)]
            assert len(readable) >= len(CASES[kind]) // 2, (entry, len(readable))
