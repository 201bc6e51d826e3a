"""One file from the Hugging Face Hub into its cache, checked against the Hub's SHA-256 first.

The Hub answers `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` with the commit
(X-Repo-Commit) and the file's SHA-256 (X-Linked-Etag, or ETag). The body is
streamed with the same stall, retry and resume rules as torchvision's weights
(engine/models/weights/fetch.py), checked, and only then moved into the layout
huggingface_hub writes (blobs/<sha256>, snapshots/<commit>/<file>, refs/<revision>).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import redact
from engine.models.weights.cache_tx import cache_change
from engine.models.weights.errors import DownloadFailed
from engine.models.weights.fetch import USER_AGENT, Progress, fetch_checked, with_credentials
from engine.models.weights.guidance import ways_on

HEAD_TIMEOUT_S = 10.0
HEAD_ATTEMPTS = 3
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass
class HubFile:
    """What the Hub says of one file: where to get it, its commit and SHA-256."""

    url: str
    commit: str
    sha256: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand redirects back to the caller: the Hub's metadata sits on the 302 itself."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def offline_fix(endpoint: str) -> str:
    """Return the fix line for a Hub that cannot be reached."""
    return (
        f"set HF_ENDPOINT=http://host to a Hub mirror you can reach (now {redact(endpoint)}), "
        "or HF_HUB_OFFLINE=1 to use only the Hugging Face cache; " + ways_on()
    )


def hub_headers() -> dict[str, str]:
    """Return the request headers: our user agent and $HF_TOKEN as a bearer token."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def ask_hub(endpoint: str, repo: str, filename: str, revision: str) -> HubFile | None:
    """Return what the Hub says of `repo`'s `filename`, or None when the repo has no such file."""
    quoted = "/".join(urllib.parse.quote(part, safe="") for part in repo.split("/"))
    url = (
        f"{endpoint}/{quoted}/resolve/{urllib.parse.quote(revision, safe='')}/{urllib.parse.quote(filename)}"
    )
    opener = urllib.request.build_opener(_NoRedirect)
    for _ in range(5):  # relative redirects: a renamed repo
        plain, headers = with_credentials(url, hub_headers())
        response = _head(opener, plain, headers, endpoint, repo)
        if response is None:
            return None
        location = response.headers.get("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(target).netloc != urllib.parse.urlsplit(url).netloc:
                return _described(response.headers, target, repo, endpoint)  # a CDN holds the bytes
            url = target
            continue
        return _described(response.headers, url, repo, endpoint)
    raise DownloadFailed(
        f"cannot download the weights of {repo} from {redact(endpoint)}",
        "the Hub redirected more than 5 times",
        offline_fix(endpoint),
    )


def _head(opener: Any, url: str, headers: dict[str, str], endpoint: str, repo: str) -> Any:
    """Return the Hub's answer to HEAD `url` (None: no such file); bounded retries, clear errors."""
    last = ""
    for attempt in range(HEAD_ATTEMPTS):
        if attempt:
            time.sleep(0.3 * attempt)
        try:
            with opener.open(
                urllib.request.Request(url, headers=headers, method="HEAD"), timeout=HEAD_TIMEOUT_S
            ) as response:
                return response
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                return error
            if error.code == 404:
                if error.headers.get("X-Error-Code") == "EntryNotFound":
                    return None
                raise DownloadFailed(
                    f"{repo} is not on {redact(endpoint)} (HTTP 404)",
                    error.headers.get("X-Error-Message") or "no such repo",
                    "check the model name and tag, or HF_ENDPOINT",
                ) from None
            if error.code in (401, 403):
                raise DownloadFailed(
                    f"the Hub refused {repo} (HTTP {error.code})",
                    "the repo is private or gated, or the token is wrong",
                    "export HF_TOKEN=hf_... with access to it",
                ) from None
            last = f"the Hub answered HTTP {error.code} {error.reason}"
            if error.code < 500 and error.code != 429:
                break
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, socket.gaierror):
                host = urllib.parse.urlsplit(url).hostname
                last = f"the host {host} does not resolve: no network or no DNS here"
                break
            last = f"cannot reach the Hub ({reason})"
    raise DownloadFailed(
        f"cannot download the weights of {repo} from {redact(endpoint)}",
        f"{last} (tried {attempt + 1} time{'s' if attempt else ''})",
        offline_fix(endpoint),
    )


def _described(headers: Any, url: str, repo: str, endpoint: str) -> HubFile:
    """Return the HubFile from the Hub's headers, refusing an answer without commit or SHA-256."""
    commit = (headers.get("X-Repo-Commit") or "").strip()
    etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").strip()
    etag = etag.removeprefix("W/").strip('"').lower()
    where = f"{redact(endpoint)} for {repo}"
    if not _COMMIT.fullmatch(commit) or ".." in commit:
        raise DownloadFailed(
            f"the Hub at {where} did not name a usable commit",
            f"X-Repo-Commit is {commit[:60]!r}",
            offline_fix(endpoint),
        )
    if not _SHA256.fullmatch(etag):
        raise DownloadFailed(
            f"the Hub at {where} gave no SHA-256 for the file",
            f"its ETag is {etag[:70]!r}, so the download cannot be checked",
            "use huggingface.co or a mirror that serves the files' SHA-256 ETags",
        )
    return HubFile(url, commit, etag)


def fetch_hub_file(
    cache: Path,
    repo_dir: str,
    hub: HubFile,
    filename: str,
    revision: str,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> Path:
    """Download `hub` into the Hugging Face cache, checked against its SHA-256; return the file."""
    with cache_change() as change:
        blob = change.inside(cache, repo_dir, "blobs", hub.sha256, what="the Hub's ETag")
        snapshot = change.inside(cache, repo_dir, "snapshots", hub.commit, filename, what="the Hub's commit")
        ref = change.inside(cache, repo_dir, "refs", revision, what="the revision")
        work = change.inside(cache, ".locks", repo_dir, hub.sha256, what="the Hub's ETag")
        change.folder(blob.parent)
        if not blob.is_file():
            same_host = (
                urllib.parse.urlsplit(hub.url).netloc
                == urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").netloc
            )
            headers = {
                k: v for k, v in hub_headers().items() if same_host or k != "Authorization"
            }  # no token to a CDN
            work.parent.mkdir(parents=True, exist_ok=True)  # huggingface_hub's own lock folder
            fetch_checked(
                hub.url,
                work,
                hub.sha256,
                lambda partial: change.put(partial, blob),
                progress,
                cancel,
                done=blob.is_file,
                headers=headers,
            )
        change.link(blob, change.folder(snapshot.parent) / snapshot.name)
        if revision != hub.commit:
            change.folder(ref.parent)
            change.text(ref, hub.commit)
    return snapshot
