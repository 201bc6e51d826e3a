"""Secrets in URLs never reach a terminal: `user:pass@host` is shown as `user:***@host`."""

from __future__ import annotations

import re

# scheme://user:password@ — the password runs to the last @ before the path (it may hold an @).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^/\s]*@")
# scheme://token@ (no colon): a bare token is a secret too.
_TOKEN_ONLY = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+@")


def redact(text: object) -> str:
    """Return `text` with every password (or bare token) in a URL's user part replaced by ***."""
    masked = _USERINFO.sub(r"\g<head>:***@", str(text))
    return _TOKEN_ONLY.sub(r"\g<head>***@", masked)
