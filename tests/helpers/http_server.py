"""A real HTTP file server on 127.0.0.1 in a thread, with ways to misbehave for download tests."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass
class Served:
    """One file the server serves, and how it misbehaves."""

    data: bytes
    ranges: bool = True  # honour `Range: bytes=N-` with 206; False: ignore it and send 200
    truncate_at: int | None = None  # every response stops after this many body bytes
    drop_first_at: int | None = None  # the first response stops after this many bytes
    body: bytes | None = None  # send these bytes instead of `data` (a lying server)
    send_length: bool = True  # send Content-Length
    status: int = 200  # answer this status (with a short text body) when not 200
    chunk_delay: float = 0.0  # seconds to sleep after each 16 KiB chunk
    etag: str | None = None  # send this ETag; honour If-Range against it
    hits: int = 0


@dataclass
class Request:
    """What the server saw of one request."""

    path: str
    range: str | None
    user_agent: str | None
    if_range: str | None = None
    authorization: str | None = None


@dataclass
class FileServer:
    """Serve files from memory; `url(name)` gives their address, `requests` what was asked."""

    host: str = "127.0.0.1"
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FileServer:
        """Start serving in a daemon thread; return self."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                """Keep test output quiet."""

            def do_GET(self) -> None:
                """Serve a file, honouring the misbehaviour it was registered with."""
                owner._handle(self)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and its thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base(self) -> str:
        """Return the server's base URL, ending in a slash."""
        assert self._server is not None, "start() the server first"
        return f"http://{self.host}:{self._server.server_address[1]}/"

    def serve(self, path: str, data: bytes, **options: object) -> str:
        """Serve `data` at `path` (e.g. "models/x-1234.pth"); return its URL."""
        self.files["/" + path.lstrip("/")] = Served(data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def url(self, path: str) -> str:
        """Return the URL of `path` on this server."""
        return self.base + path.lstrip("/")

    def requests_for(self, path: str) -> list[Request]:
        """Return the requests made for `path`."""
        wanted = "/" + path.lstrip("/")
        return [r for r in self.requests if r.path == wanted]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one GET."""
        path = handler.path.split("?")[0]
        asked = handler.headers.get("Range")
        with self._lock:
            self.requests.append(Request(path, asked, handler.headers.get("User-Agent"),
                                         handler.headers.get("If-Range"),
                                         handler.headers.get("Authorization")))
            served = self.files.get(path)
            if served is not None:
                served.hits += 1
                first = served.hits == 1
        if served is None or served.status != 200:
            status = 404 if served is None else served.status
            text = b"not here\n"
            handler.send_response(status)
            handler.send_header("Content-Length", str(len(text)))
            handler.end_headers()
            handler.wfile.write(text)
            return
        content = served.data if served.body is None else served.body
        start = 0
        match = _RANGE.match(asked or "")
        if_range = handler.headers.get("If-Range")
        if if_range is not None and if_range != served.etag:
            match = None  # the file changed since the client's copy: send all of it
        if served.ranges and match:
            start = int(match.group(1))
            if start >= len(content):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(content)}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range",
                                f"bytes {start}-{len(content) - 1}/{len(content)}")
        else:
            handler.send_response(200)
        if served.ranges:
            handler.send_header("Accept-Ranges", "bytes")
        if served.etag:
            handler.send_header("ETag", served.etag)
        body = content[start:]
        if served.send_length:
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.close_connection = True
        handler.end_headers()
        stop = len(body)
        if served.truncate_at is not None:
            stop = min(stop, served.truncate_at)
        if first and served.drop_first_at is not None:
            stop = min(stop, served.drop_first_at)
        try:
            for offset in range(0, stop, 16384):
                handler.wfile.write(body[offset:min(offset + 16384, stop)])
                if served.chunk_delay:
                    handler.wfile.flush()
                    time.sleep(served.chunk_delay)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if stop < len(body):
            handler.close_connection = True
