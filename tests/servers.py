"""Real servers on 127.0.0.1 for the tests: a file server that injects faults, and `rustac
serve` (a STAC API from PyPI). Each is started and stopped by the test that uses it.

The file server speaks enough HTTP/1.1 for the download code to meet real-world failures:
Range requests (206 with Content-Range), ETag / If-Range, 416, and per-path fault scripts
consumed one per request: `503`, `429:<seconds>` (Retry-After), `403`, `404`, `reset` (TCP RST
after part of the body), `truncate` (close after part of a full Content-Length), `stall`
(send part of the body, then go silent), `drip` (headers, then one byte per second),
`html` (an HTML error page with 200) and `corrupt` (200, the right length, 64 flipped bytes
mid-file and the original file's ETag and digest headers, as a corrupting proxy or disk would
send). ETags are the content's MD5, as S3 and most servers give them (`etags` overrides one,
e.g. with a multipart ETag; `headers` adds response headers to a path). It logs every request
for assertions.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Bytes a faulty response sends before it fails (more than two download chunks; half the
#: body of smaller files).
FAULT_AFTER = 600 * 1024


class QuietServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that does not print the connection errors tests provoke."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore errors of connections the client (or a fault) broke."""


@dataclass(frozen=True)
class Request:
    """One request the server saw."""

    method: str
    path: str
    headers: dict[str, str]


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that logs nothing."""

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the tests keep their own request logs."""


class LocalServer:
    """An HTTP server on 127.0.0.1 (a free port) serving in a thread until `close`."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.httpd = QuietServer(("127.0.0.1", 0), handler)
        self.stop_event = threading.Event()
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        """Release stalled handlers, stop serving, free the port."""
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class PostRouter(LocalServer):
    """A local server whose POST requests go to `route(handler, body)` of the subclass."""

    def __init__(self) -> None:
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.route(self, body)

        super().__init__(Handler)

    def route(self, handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        """Answer one POST request."""
        raise NotImplementedError


def send_tiff(handler: http.server.BaseHTTPRequestHandler, data: Any) -> None:
    """Answer with `data` (a 2-D array) as a single-band GeoTIFF, as the Process API does."""
    from rasterio.io import MemoryFile

    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                         dtype=data.dtype) as dataset:  # fmt: skip
            dataset.write(data, 1)
        tiff = memory.read()
    handler.send_response(200)
    handler.send_header("Content-Type", "image/tiff")
    handler.send_header("Content-Length", str(len(tiff)))
    handler.end_headers()
    handler.wfile.write(tiff)


class FaultyFileServer(LocalServer):
    """Serves `files` (URL path -> bytes) or a folder, with scripted faults per path."""

    def __init__(self, files: dict[str, bytes] | None = None, root: Path | None = None) -> None:
        self.files = dict(files or {})
        self.root = root
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.etags: dict[str, str] = {}
        #: How many times each scripted fault was served.
        self.injected: Counter[str] = Counter()
        self.headers: dict[str, dict[str, str]] = {}
        self.requests: list[Request] = []
        #: Optional check of the request target (path and query); False answers 403.
        self.authorize: Callable[[str], bool] | None = None
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.handle(self)

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

            def do_POST(self) -> None:
                server.handle_post(self)

        super().__init__(Handler)

    def __enter__(self) -> FaultyFileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def script(self, path: str, *faults: str) -> None:
        """Queue faults for the next requests of `path` (then it serves normally)."""
        self.faults[path].extend(faults)

    def requests_for(self, path: str) -> list[Request]:
        """The GET requests seen for `path`."""
        return [r for r in self.requests if r.path == path and r.method == "GET"]

    def body(self, path: str) -> bytes | None:
        """The content served at `path`, or None."""
        if path in self.files:
            return self.files[path]
        if self.root is not None:
            candidate = (self.root / path.lstrip("/")).resolve()
            if candidate.is_file() and self.root.resolve() in candidate.parents:
                return candidate.read_bytes()
        return None

    def handle(self, handler: http.server.BaseHTTPRequestHandler, head: bool = False) -> None:
        """Answer one request: a scripted fault, or the (ranged) content."""
        path = handler.path.split("?")[0]
        self.requests.append(Request(handler.command, handler.path, dict(handler.headers)))
        queue = self.faults.get(path)
        fault = queue.popleft() if queue else "ok"
        if fault != "ok":
            self.injected[fault] += 1
        data = self.body(path)
        if fault == "403" or (self.authorize is not None and not self.authorize(handler.path)):
            self._send_status(handler, 403)
            return
        if fault == "404" or data is None:
            self._send_status(handler, 404)
            return
        if fault == "503":
            self._send_status(handler, 503)
            return
        if fault.startswith("429"):
            self._send_status(handler, 429, {"Retry-After": fault.partition(":")[2] or "1"})
            return
        if fault == "html":
            self._send_html(handler)
            return
        etag = self.etags.get(path, f'"{hashlib.md5(data).hexdigest()}"')
        if fault == "corrupt":
            data = flipped(data)
        start = 0
        status = 200
        range_header = handler.headers.get("Range")
        if_range = handler.headers.get("If-Range")
        if range_header and (if_range is None or if_range == etag):
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self._send_status(handler, 416, {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        payload = data[start:]
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("ETag", etag)
        handler.send_header("Accept-Ranges", "bytes")
        for key, value in self.headers.get(path, {}).items():
            handler.send_header(key, value)
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if head:
            return
        if fault == "drip":
            self._drip(handler, payload)
            return
        if fault in ("reset", "truncate", "stall"):
            handler.wfile.write(payload[: min(FAULT_AFTER, len(payload) // 2)])
            handler.wfile.flush()
            if fault == "stall":
                self.stop_event.wait(10)
            elif fault == "reset":
                handler.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.close()
            return
        handler.wfile.write(payload)

    def _drip(self, handler: http.server.BaseHTTPRequestHandler, payload: bytes) -> None:
        """Send one byte per second until the client gives up (or the server stops)."""
        for byte in payload:
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                break
            if self.stop_event.wait(1.0):
                break
        handler.close_connection = True

    @staticmethod
    def _send_html(handler: http.server.BaseHTTPRequestHandler) -> None:
        """An error page with status 200, as some gateways send instead of the file."""
        page = b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    def handle_post(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        """POST: a file server has nothing to accept (subclasses serve forms)."""
        self.requests.append(Request(handler.command, handler.path, dict(handler.headers)))
        self._send_status(handler, 405)

    @staticmethod
    def _send_status(
        handler: http.server.BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        send_json(handler, status, {"status": status}, headers)


def flipped(data: bytes, count: int = 64) -> bytes:
    """`data` with `count` bytes inverted in the middle (same length)."""
    middle = len(data) // 2
    damaged = bytes(b ^ 0xFF for b in data[middle : middle + count])
    return data[:middle] + damaged + data[middle + count :]


def send_json(
    handler: http.server.BaseHTTPRequestHandler,
    status: int,
    data: Any,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer a request with a JSON body (and extra headers)."""
    body = json.dumps(data).encode()
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def rustac_server(item_collection: Path, log: Path) -> Iterator[str]:
    """Run `rustac serve` (memory backend) on 127.0.0.1 with the items of a file; yield its URL."""
    executable = shutil.which("rustac")
    if executable is None:
        venv_rustac = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "rustac"
        executable = str(venv_rustac)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_stream:
        process = subprocess.Popen(
            [executable, "serve", "--create-collections", "--addr", f"127.0.0.1:{port}",
             str(item_collection)],
            stdout=log_stream, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_server(f"{url}/", process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_server(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until a server we started answers `url` (or died: then fail with its log)."""
    import requests

    deadline = time.monotonic() + 120  # a loaded machine starts a Python server slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.args[0]} did not answer at {url}")
