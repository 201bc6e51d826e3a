"""Whether the weights servers answer: torchvision's host, the configured mirror, the Hugging Face Hub.

Each is asked once (HEAD, no redirect followed, 2 s), all at the same time, so the whole check
takes about 2 s even with no network. Any HTTP answer counts as answering (a 403 or 404 on a
folder is normal, a 405 or 501 is a server that only does GET); a server error, a gateway
with nothing behind it or a proxy asking for a login does not. HF_HUB_OFFLINE (or
TRANSFORMERS_OFFLINE) means the Hub is not asked at all, as the downloads would not ask it.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from engine.doctor.check import Check
from engine.errors import PtmError, redact

TIMEOUT_S = 2.0
NOT_ANSWERING = (500, 502, 503, 504)
"""The HTTP statuses that mean no usable server answered (the server broke, or a gateway's upstream)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: report it rather than asking another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def probe(url: str, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """Return whether the server of `url` answers, and what happened, in the user's words."""
    from engine.models.weights.fetch import USER_AGENT, with_credentials

    if url.lower().startswith("file://"):
        folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        return (True, "a folder here") if folder.is_dir() else (False, f"{folder} is not a folder here")
    plain, headers = with_credentials(url, {"User-Agent": USER_AGENT})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(
            urllib.request.Request(plain, headers=headers, method="HEAD"), timeout=timeout
        ) as answer:
            return True, f"answers (HTTP {answer.status})"
    except urllib.error.HTTPError as error:
        if error.code == 407:
            return False, "the proxy wants a login (HTTP 407)"
        if error.code in NOT_ANSWERING:
            return False, f"answers with a server error (HTTP {error.code} {error.reason})"
        return True, f"answers (HTTP {error.code})"
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        return False, _why_not(getattr(error, "reason", error), timeout)


def _why_not(reason: object, timeout: float) -> str:
    """Return why a server could not be reached, plainly."""
    if isinstance(reason, socket.gaierror):
        return "its name does not resolve: no network or no DNS here"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused (nothing listens there)"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason})"
    return f"cannot reach it ({reason})"


def proxy_for(url: str) -> str | None:
    """Return the proxy urllib sends `url` through ($HTTPS_PROXY etc.), or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def probe_all(urls: list[str], timeout: float = TIMEOUT_S) -> dict[str, tuple[bool, str]]:
    """Return probe() of each URL, asked at once; one still waiting after the timeout has no answer.

    The threads are daemons: a name lookup that hangs (no DNS server) cannot hold up the report.
    """
    found: dict[str, tuple[bool, str]] = {}

    def ask(url: str) -> None:
        found[url] = probe(url, timeout)

    threads = [threading.Thread(target=ask, args=(url,), daemon=True) for url in dict.fromkeys(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 1.0)
    return {url: found.get(url, (False, f"no answer within {timeout:g} s")) for url in urls}


def network_checks(timeout: float = TIMEOUT_S) -> list[Check]:
    """Return whether torchvision's weights host, the mirror ($PTM_WEIGHTS_MIRROR) and the Hub answer."""
    import os

    from engine.models.weights.cache import MIRROR_ENV, TORCHVISION_BASE, mirror_url
    from engine.models.weights.guidance import ways_on
    from engine.models.weights.hf import endpoint, offline_flag
    from engine.models.weights.hub_fetch import offline_fix

    mirror = os.environ.get(MIRROR_ENV, "").strip()
    mirror_error = None
    try:
        mirror_url(TORCHVISION_BASE)
    except PtmError as error:
        mirror_error = error
    hub, flag = endpoint(), offline_flag()
    asked = [TORCHVISION_BASE]
    if mirror and mirror_error is None:
        asked.append(mirror)
    if flag is None:
        asked.append(hub + "/")
    answers = probe_all(asked, timeout)

    def said(url: str) -> str:
        proxy = proxy_for(url)
        return answers[url][1] + (f" (through the proxy {redact(proxy)})" if proxy else "")

    def details(url: str) -> dict[str, object]:
        return {
            "url": redact(url),
            "answered": answers[url][0],
            "proxy": redact(proxy_for(url) or "") or None,
        }

    rows = []
    mirror_ok = bool(mirror) and mirror_error is None and answers[mirror][0]
    if answers[TORCHVISION_BASE][0]:
        rows.append(
            Check(
                "network",
                "torchvision weights",
                "ok",
                f"{TORCHVISION_BASE}: {said(TORCHVISION_BASE)}",
                details=details(TORCHVISION_BASE),
            )
        )
    else:
        rows.append(
            Check(
                "network",
                "torchvision weights",
                "info" if mirror_ok else "warn",
                f"{TORCHVISION_BASE}: {said(TORCHVISION_BASE)}"
                + ("; the mirror serves its files instead" if mirror_ok else ""),
                "" if mirror_ok else "weights not cached here cannot be downloaded: " + ways_on(),
                details(TORCHVISION_BASE),
            )
        )
    if not mirror:
        rows.append(Check("network", "weights mirror", "info", f"not set ({MIRROR_ENV})"))
    elif mirror_error is not None:
        rows.append(Check("network", "weights mirror", "fail", mirror_error.what, mirror_error.fix))
    else:
        rows.append(
            Check(
                "network",
                "weights mirror",
                "ok" if mirror_ok else "fail",
                f"{redact(mirror)}: {said(mirror)}",
                ""
                if mirror_ok
                else f"downloads go to the mirror and will fail: check {MIRROR_ENV} "
                f"(or unset it to use {TORCHVISION_BASE})",
                details(mirror),
            )
        )
    if flag is not None:
        rows.append(
            Check(
                "network",
                "Hugging Face Hub",
                "info",
                f"not asked: {flag} is set, so timm's weights come from the cache only",
                details={"offline": flag},
            )
        )
    else:
        answered, _ = answers[hub + "/"]
        rows.append(
            Check(
                "network",
                "Hugging Face Hub",
                "ok" if answered else "warn",
                f"{redact(hub)}: {said(hub + '/')}",
                "" if answered else offline_fix(hub),
                details(hub + "/"),
            )
        )
    return rows
