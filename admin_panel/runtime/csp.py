"""The Content-Security-Policy of the pages: what the built frontend needs, and nothing it does not.

The prerendered HTML of React Router carries inline scripts (the colour-mode script, scroll restoration, the
route context and its stream, the module script that imports the route's chunks, React's streaming helpers).
They differ per page and per build, so their SHA-256 hashes are read from the HTML actually served and cached
by the digest of that HTML; no 'unsafe-inline' for scripts. Every other script is a file under /assets.
Nothing here fetches anything: the policy is computed from the response body alone.
"""

import base64
import gzip
import hashlib
import re
import zlib
from collections.abc import Iterable
from urllib.parse import urlsplit

_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_SRC_ATTR = re.compile(rb"(?:^|\s)src\s*=", re.I)
_CACHE_SIZE = 512  # distinct HTML bodies (pages × encodings × builds); cleared when full

# The directives other than script-src. style-src needs 'unsafe-inline': emotion (Reflex's CSS-in-JS), Radix
# Themes and Plotly insert <style> elements at run time, which neither hashes nor nonces can cover in a
# prerendered static page. img-src: data: for the MFA QR code (an SVG data URI) and Plotly's icons, blob: for
# Plotly's image export. connect-src 'self' covers the websocket (ws:/wss: to the same host and port, /_event)
# and /ping; CSV downloads are navigations (rx.download links, /downloads), which no fetch directive governs.
FIXED = (
    ("default-src", ("'self'",)),
    ("style-src", ("'self'", "'unsafe-inline'")),
    ("img-src", ("'self'", "data:", "blob:")),
    ("font-src", ("'self'", "data:")),
    ("object-src", ("'none'",)),
    ("base-uri", ("'self'",)),
    ("form-action", ("'self'",)),
    ("frame-ancestors", ("'none'",)),
)


# Host names that Reflex's frontend replaces with the page's own host name (.web/utils/state.js getBackendURL).
_PAGE_HOST_NAMES = ("localhost", "0.0.0.0", "::", "0:0:0:0:0:0:0:0")


def backend_sources(api_url: str) -> tuple[str, ...]:
    """Extra connect-src sources when the configured backend (Reflex `api_url`) is another host than the page's:
    its http(s) and ws(s) origins. Single-port mode on localhost or behind a proxy on one host needs none."""
    parts = urlsplit(api_url)
    if not parts.hostname or parts.hostname in _PAGE_HOST_NAMES:
        return ()
    ws = "wss" if parts.scheme == "https" else "ws"
    return (f"{parts.scheme}://{parts.netloc}", f"{ws}://{parts.netloc}")


def inline_script_hashes(html: bytes) -> tuple[str, ...]:
    """The CSP hash sources ('sha256-…') of the inline scripts of `html`, in order, without repeats."""
    out: dict[str, None] = {}
    for match in _SCRIPT.finditer(html):
        attrs, body = match.group(1), match.group(2)
        if _SRC_ATTR.search(attrs):
            continue
        # The HTML parser turns CR LF and lone CR into LF before the browser hashes the text.
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out[f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"] = None
    return tuple(out)


def policy(script_hashes: Iterable[str] = (), connect_sources: Iterable[str] = ()) -> str:
    """The header value: the fixed directives, script-src with `script_hashes`, connect-src with extra sources."""
    directives = dict(FIXED)
    directives["script-src"] = ("'self'", *script_hashes)
    directives["connect-src"] = ("'self'", *connect_sources)
    order = ("default-src", "script-src", "style-src", "img-src", "font-src", "connect-src", "object-src",
             "base-uri", "form-action", "frame-ancestors")
    return "; ".join(f"{name} {' '.join(directives[name])}" for name in order)


def decode(body: bytes, content_encoding: str) -> bytes | None:
    """The HTML of a response body in `content_encoding` (identity, gzip, deflate), or None for others."""
    encoding = content_encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error):
        return None
    return None


class PolicyCache:
    """Page policies by the digest of the served body (the static pages repeat: each is parsed once), and by path
    and ETag, for the bodiless answers to the same page (304 Not Modified, HEAD)."""

    def __init__(self, connect_sources: Iterable[str] = ()):
        self.connect_sources = tuple(connect_sources)
        self.base = policy((), self.connect_sources)  # for a body it cannot read: no inline script may run
        self._by_digest: dict[tuple[bytes, str], str] = {}
        self._by_etag: dict[tuple[str, bytes], str] = {}

    def for_body(self, body: bytes, content_encoding: str = "", *, path: str = "", etag: bytes = b"") -> str:
        key = (hashlib.sha256(body).digest(), content_encoding)
        found = self._by_digest.get(key)
        if found is None:
            html = decode(body, content_encoding)
            found = self.base if html is None else policy(inline_script_hashes(html), self.connect_sources)
            _put(self._by_digest, key, found)
        if etag:
            _put(self._by_etag, (path, etag), found)
        return found

    def for_etag(self, path: str, etag: bytes) -> str | None:
        """The policy last sent with this page and ETag, if any."""
        return self._by_etag.get((path, etag)) if etag else None


def _put(cache: dict, key, value) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value
