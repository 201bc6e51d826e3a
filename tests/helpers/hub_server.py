"""A real HTTP server on 127.0.0.1 that answers like the Hugging Face Hub's file endpoint.

HEAD and GET on /{repo}/resolve/{revision}/{file}, with the headers huggingface_hub reads:
ETag (the file's SHA-256, as the Hub gives for LFS files), X-Repo-Commit and Content-Length.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubRequest:
    """What the server saw of one request."""

    method: str
    path: str
    authorization: str | None


@dataclass
class Quirks:
    """How the server misbehaves for one file (all off by default)."""

    etag: str | None = None
    """Send this ETag instead of the file's SHA-256."""
    linked: bool = False
    """Answer as the Hub does for LFS files: the SHA-256 in X-Linked-Etag, a git hash in ETag."""
    length: int | None = None
    """Send this Content-Length, and that many bytes, instead of the file's."""
    truncate_at: int | None = None
    """Stop the body after this many bytes and close the connection (Content-Length stays)."""
    byte_delay: float = 0.0
    """Send the body one byte at a time, sleeping this long between bytes."""
    status: int | None = None
    """Answer every request with this HTTP status."""


@dataclass
class HubServer:
    """Serve repo files from memory; `endpoint` is what HF_ENDPOINT should be set to."""

    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[HubRequest] = field(default_factory=list)
    token: str | None = None
    """When set, every request must carry `Authorization: Bearer <token>` (else 401)."""
    quirks: dict[tuple[str, str], Quirks] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> HubServer:
        """Start serving in a daemon thread; return self."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                """Keep test output quiet."""

            def do_HEAD(self) -> None:
                owner._answer(self, body=False)

            def do_GET(self) -> None:
                owner._answer(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def endpoint(self) -> str:
        """Return the base URL (no trailing slash), as HF_ENDPOINT takes it."""
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, repo: str, filename: str, data: bytes) -> None:
        """Serve `data` as `filename` of model repo `repo` (any revision)."""
        self.files[(repo, filename)] = data

    def gets(self) -> list[HubRequest]:
        """Return the GET requests (file downloads) seen so far."""
        return [r for r in self.requests if r.method == "GET"]

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        auth = handler.headers.get("Authorization")
        self.requests.append(HubRequest(handler.command, handler.path, auth))
        path = handler.path.split("?")[0].lstrip("/")
        repo, _, rest = path.partition("/resolve/")
        _, _, filename = rest.partition("/")
        data = self.files.get((repo, filename))
        if self.token is not None and auth != f"Bearer {self.token}":
            self._status(handler, 401, "Invalid credentials", body)
            return
        if data is None:
            self._status(handler, 404, "Entry not found", body, error_code="EntryNotFound")
            return
        quirks = self.quirks.get((repo, filename), Quirks())
        if quirks.status is not None:
            self._status(handler, quirks.status, "Internal Error", body)
            return
        sha = quirks.etag or hashlib.sha256(data).hexdigest()
        if quirks.length is not None:
            data = data[:quirks.length]
        handler.send_response(200)
        if quirks.linked:
            handler.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
            handler.send_header("X-Linked-Etag", f'"{sha}"')
            handler.send_header("X-Linked-Size", str(len(data)))
        else:
            handler.send_header("ETag", f'"{sha}"')
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if not body:
            return
        sent = data if quirks.truncate_at is None else data[:quirks.truncate_at]
        try:
            if quirks.byte_delay:
                for index in range(len(sent)):
                    handler.wfile.write(sent[index:index + 1])
                    handler.wfile.flush()
                    time.sleep(quirks.byte_delay)
            else:
                handler.wfile.write(sent)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if len(sent) < len(data):
            handler.close_connection = True

    @staticmethod
    def _status(handler: BaseHTTPRequestHandler, code: int, text: str, body: bool,
                error_code: str | None = None) -> None:
        data = text.encode()
        handler.send_response(code)
        if error_code:
            handler.send_header("X-Error-Code", error_code)
        handler.send_header("X-Error-Message", text)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)
