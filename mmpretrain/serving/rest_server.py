"""RestServer: TF Serving's REST API over a directory of exported SavedModels.

    GET  /v1/models/NAME[/versions/N]                model version status
    GET  /v1/models/NAME[/versions/N]/metadata       signature defs
    POST /v1/models/NAME[/versions/N]:predict        {"instances": ...} or {"inputs": ...}

A client written for TF Serving works unchanged (same paths, bodies, {"b64": ...} values and
{"error": "..."} answers; see predict_request.py for what a predict body may hold). The server
is the standard library's ThreadingHTTPServer (one thread per connection, HTTP/1.1 keep-alive),
bound to 127.0.0.1 unless told otherwise. Request bodies above `max_body_bytes` are refused
with 413 before they are read, b64 images above `max_image_pixels` with 400 before they are
decoded; every error is answered as {"error": message} with its status
(400 bad input, 404 unknown model/version/path, 405, 411, 413, 500), and the server goes on.
"""

import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mmpretrain.serving.errors import RequestError
from mmpretrain.serving.instance_values import DEFAULT_MAX_IMAGE_PIXELS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501  # TF Serving's REST port
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

_MODEL = r"/v1/models/(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(?:/versions/(?P<version>[^/:]+))?"
GET_PATH = re.compile(_MODEL + r"(?P<metadata>/metadata)?/?")
POST_PATH = re.compile(_MODEL + r":(?P<verb>[A-Za-z]+)")


class RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mmpretrain-serving/1"
    timeout = 60  # seconds a client may stay silent mid-request

    # === Plumbing ===

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _send_json(self, status, value, close=False):
        from mmpretrain.serving.predict_request import dumps

        body = dumps(value).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, error, close=False):
        self._send_json(error.status, {"error": error.message}, close=close)

    def _handle(self, work):
        try:
            status, value = work()
            self._send_json(status, value)
        except RequestError as err:
            self._send_error(err, close=err.status in (411, 413))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # the server must survive anything a request triggers
            self._send_error(RequestError(500, f"Internal error: {type(err).__name__}: {str(err)[:300]}"))

    # === GET ===

    def do_GET(self):
        self._handle(self._get)

    def _get(self):
        match = GET_PATH.fullmatch(self.path.split("?", 1)[0])
        if not match:
            raise self._unknown_path()
        repository = self.server.repository
        name, version = match["name"], match["version"]
        if match["metadata"]:
            return 200, repository.metadata(name, version)
        return 200, repository.status(name, version)

    # === POST ===

    def do_POST(self):
        self._handle(self._post)

    def _post(self):
        match = POST_PATH.fullmatch(self.path.split("?", 1)[0])
        if not match:
            self._discard_body()
            raise self._unknown_path()
        body = self._read_body()
        if match["verb"] != "predict":
            raise RequestError(
                404, f"Verb ':{match['verb']}' is not supported; this server answers ':predict'."
            )
        from mmpretrain.serving.predict_request import DecodeLimits, parse_json_body, predict

        request = parse_json_body(body)
        model = self.server.repository.get(match["name"], match["version"])
        return 200, predict(model, request, DecodeLimits.for_model(model.info, self.server.max_image_pixels))

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError(411, "Chunked request bodies are not accepted; send a Content-Length.")
        length = self.headers.get("Content-Length")
        if length is None:
            raise RequestError(411, "A POST needs a Content-Length header.")
        if not length.strip().isdigit():
            raise RequestError(400, f"Content-Length must be a non-negative integer; received {length!r}.")
        length = int(length)
        limit = self.server.max_body_bytes
        if length > limit:
            raise RequestError(
                413, f"The request body has {length} bytes; this server accepts at most {limit} "
                "(start it with a larger --max-body-bytes, or send smaller batches).",
            )
        body = self.rfile.read(length)
        if len(body) != length:
            raise RequestError(400, f"The body ended after {len(body)} of {length} bytes.")
        return body

    def _discard_body(self):
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= self.server.max_body_bytes:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def _unknown_path(self):
        return RequestError(
            404, f"Unknown path {self.path!r}. Accepted: GET /v1/models/NAME[/versions/N][/metadata], "
            "POST /v1/models/NAME[/versions/N]:predict.",
        )

    def _method_not_allowed(self):
        self._discard_body()
        self._send_error(RequestError(405, f"Method {self.command} is not allowed; use GET or POST."))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed  # HEAD: the base class's 501


def check_options(port, max_body_bytes, max_image_pixels):
    """ValueError naming a bad server option (before any model is loaded)."""
    for name, value in (("max_body_bytes", max_body_bytes), ("max_image_pixels", max_image_pixels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; received {value!r}.")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in 0..65535 (0 picks a free port); received {port!r}.")


class RestServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer with a ModelRepository and a request-size bound."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, repository, host=DEFAULT_HOST, port=DEFAULT_PORT,
                 max_body_bytes=DEFAULT_MAX_BODY_BYTES, verbose=False,
                 max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS):
        check_options(port, max_body_bytes, max_image_pixels)
        self.repository = repository
        self.max_body_bytes = max_body_bytes
        self.max_image_pixels = max_image_pixels
        self.verbose = verbose
        super().__init__((host, port), RestHandler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self):
        """Serves in a daemon thread (for tests and notebooks); stop with `stop()`."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="mmpretrain-rest", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(timeout=10)


def make_server(model_dir, host=DEFAULT_HOST, port=DEFAULT_PORT,
                max_body_bytes=DEFAULT_MAX_BODY_BYTES, preload=True, verbose=False,
                max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS):
    """A RestServer over `model_dir` (TF Serving layout); `port=0` picks a free port.

    `max_image_pixels`: b64 images whose header declares more pixels get a 400, undecoded.
    """
    from mmpretrain.serving.model_repository import ModelRepository

    check_options(port, max_body_bytes, max_image_pixels)
    repository = ModelRepository(model_dir)
    if preload:
        started = time.perf_counter()
        loaded = repository.preload()
        if verbose:
            print(f"loaded {loaded} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return RestServer(repository, host=host, port=port, max_body_bytes=max_body_bytes, verbose=verbose,
                      max_image_pixels=max_image_pixels)


def describe(server):
    """A short banner: the URL and the models it answers for."""
    names = server.repository.model_names()
    lines = [f"Serving {len(names)} model(s) from {server.repository.base_dir!r} at {server.url}"]
    for name in names:
        versions = server.repository.versions(name)
        lines.append(f"  {server.url}/v1/models/{name}  versions {versions}")
    return "\n".join(lines)

