"""Peak memory of the REST server on two hostile uploads: an image bomb and a fake 8 Hz WAV.

    python benchmarks/bad_input_memory.py [--models DIR] [--model NAME]

Starts `python -m mmpretrain.cli serve DIR --port 0` in a subprocess (the code it runs is the
`mmpretrain` that the environment's PYTHONPATH finds first: run it with PYTHONPATH set to an old
checkout to measure that code), warms it up with one small valid image and clip, then sends

    1. {"b64": a 1-bit 14000 x 14000 PNG} (~24 KB on the wire, 196 M pixels declared) to serve_image
    2. {"b64": a WAV whose header claims 8 Hz} (1 s of 16 kHz samples = 2000 s at 8 Hz, so
       resampling it to 16 kHz makes 32 M samples) to serve_audio

and prints the server's peak RSS (VmHWM of /proc/PID/status) and current RSS before and after
each request, with the HTTP status and the start of the answer. Each hostile request gets a
fresh (warmed-up) server, so each peak is its own. Without --models, a tiny
encoder is pretrained and exported once into --cache (tests/app_fixtures.py, ~30 s) with the
code of this checkout; pass that directory as --models to measure another checkout on the
same model.
"""

import argparse
import base64
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bomb_png(width=14000, height=14000):
    """A 1-bit black PNG: 14000 x 14000 compresses to ~24 KB."""
    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def wav_bytes(samples, rate):
    """16-bit PCM mono WAV bytes (written by hand: the header says whatever `rate` is)."""
    import numpy as np

    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(pcm)) + pcm)


def small_png():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def tone(seconds, rate=16000):
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * 440 * t)


def build_models(cache):
    """A tiny exported encoder under cache/saved_models (built once)."""
    saved = os.path.join(cache, "saved_models")
    if os.path.isdir(os.path.join(saved, "mmpretrain_tiny")):
        return saved
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from app_fixtures import tiny_encoder

    tiny_encoder(cache)
    return saved


def memory(pid):
    """(VmHWM, VmRSS) in MB of process `pid`."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmHWM"], values["VmRSS"]


def post(url, body, timeout):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        return None, f"{type(err).__name__}: {err}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None, help="a TF Serving model directory (default: build a tiny one)")
    parser.add_argument("--model", default="mmpretrain_tiny", help="the encoder's name under --models")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "mmpretrain-bench-bad-input"),
                        help="where the tiny encoder is built without --models")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    args = parser.parse_args(argv)
    models = os.path.abspath(args.models or build_models(args.cache))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    workdir = tempfile.mkdtemp(prefix="bad-input-memory-")  # not the checkout: `-m` puts the cwd first
    code = subprocess.run([sys.executable, "-c", "import mmpretrain; print(mmpretrain.__file__)"],
                          cwd=workdir, env=env, capture_output=True, text=True).stdout.strip()
    print(f"server code: {os.path.dirname(code)} (PYTHONPATH={env.get('PYTHONPATH', '')!r})")
    print(f"models: {models}")
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    bomb, fake = bomb_png(), wav_bytes(tone(1.0), 8)
    warm_up = [
        ("warm-up: 8x8 PNG", {"signature_name": "serve_image", "instances": [{"b64": b64(small_png())}]}),
        ("warm-up: 0.5 s WAV", {"signature_name": "serve_audio",
                                "instances": [{"waveforms": {"b64": b64(wav_bytes(tone(0.5), 16000))}}]}),
    ]
    hostile = [
        (f"image bomb: 1-bit 14000x14000 PNG ({len(bomb) / 1e3:.1f} KB)",
         {"signature_name": "serve_image", "instances": [{"b64": b64(bomb)}]}),
        (f"fake 8 Hz WAV ({len(fake) / 1e3:.1f} KB, 16000 samples)",
         {"signature_name": "serve_audio", "instances": [{"waveforms": {"b64": b64(fake)}}]}),
    ]
    print(f"\n{'request':<46} {'status':>6} {'seconds':>8} {'peak RSS MB before -> after':>28} "
          f"{'RSS MB after':>12}  answer")
    for request in hostile:  # a fresh server for each, so that each peak is its own
        serve_and_measure(models, args.model, env, workdir, warm_up + [request], args.timeout)


def serve_and_measure(models, model, env, workdir, requests, timeout):
    """Starts the server, sends `requests` in order, prints peak RSS before/after each."""
    server = subprocess.Popen([sys.executable, "-m", "mmpretrain.cli", "serve", models, "--port", "0"],
                              cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = None
        started = time.perf_counter()
        for line in server.stdout:  # the banner comes after every model is loaded
            match = re.search(r" at (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise SystemExit(f"the server exited with {server.wait()} before serving")
        print(f"-- server pid {server.pid} at {url}, up in {time.perf_counter() - started:.1f} s")
        predict = f"{url}/v1/models/{model}:predict"
        for name, body in requests:
            peak_before, _ = memory(server.pid)
            start = time.perf_counter()
            status, answer = post(predict, body, timeout)
            seconds = time.perf_counter() - start
            if server.poll() is not None:
                print(f"{name:<46} {'-':>6} {seconds:8.2f}  the server died (exit {server.returncode}): {answer[:80]}")
                break
            peak_after, rss_after = memory(server.pid)
            try:
                shown = json.loads(answer).get("error", "200: predictions") if status else answer
            except ValueError:
                shown = answer
            print(f"{name:<46} {status!s:>6} {seconds:8.2f} {peak_before:12.0f} -> {peak_after:8.0f} "
                  f"(+{peak_after - peak_before:5.0f}) {rss_after:12.0f}  {str(shown)[:90]}")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # `serve` stops cleanly on Ctrl-C
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
