"""`SecurityHeaders`: the ASGI middleware around the whole backend (admin_panel.py `StewardApp`).

Every HTTP response (pages, static assets, /api/v1, /downloads, redirects, errors) gets X-Frame-Options,
X-Content-Type-Options, Referrer-Policy (reset and invitation links carry their token in the URL) and, over
HTTPS only, Strict-Transport-Security. HTML responses get the Content-Security-Policy of csp.py, with the
hashes of the inline scripts of that very body: the body is held until complete (the prerendered pages are
small files), or read from disk when the server sends the file itself (ASGI pathsend, Granian); a 304 or HEAD of
the page repeats the policy sent with its ETag. /api/v1 and /downloads get the CORS of api/cors.py instead of
Reflex's.

HTTPS means the server's own scheme; X-Forwarded-Proto counts only when Reflex's `trusted_proxy_hops`
(REFLEX_TRUSTED_PROXY_HOPS, the setting that already makes X-Forwarded-For count) says N proxies are in front:
then its N-th value from the right, the one the outermost trusted proxy added, like Reflex's client address.

It must wrap Reflex's app from outside: the transformers of `rx.App(api_transformer=…)` run inside Reflex's own
CORS middleware, which answers preflights before them. It covers what that app serves: in prod single-port mode
(`make run`) the pages too; a separately served frontend (prod without --single-port, the dev server) has none.
"""

from pathlib import Path

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin_panel.api.cors import ApiCors, is_api_path
from admin_panel.runtime import csp
from services.core import settings

REPLACED = {b"x-frame-options", b"x-content-type-options", b"referrer-policy", b"strict-transport-security",
            b"content-security-policy"}
READABLE_ENCODINGS = ("gzip", "x-gzip", "deflate", "identity")


def _readable_html(scope: Scope, headers: Headers) -> Scope:
    """For a page request, offer only encodings csp.decode can read (Reflex precompresses gzip by default;
    brotli or zstd, if configured, still serve the assets)."""
    if "text/html" not in headers.get("accept", "") or not headers.get("accept-encoding"):
        return scope
    offered = [e for e in headers["accept-encoding"].split(",") if e.split(";")[0].strip().lower() in
               READABLE_ENCODINGS]
    rest = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
    if offered:
        rest.append((b"accept-encoding", ",".join(offered).encode("latin-1")))
    return {**scope, "headers": rest}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, cors_origins=None, proxy_hops: int = 0, hsts_max_age: int | None = None,
                 connect_sources=()):
        self.app = app
        self.cors = ApiCors(settings.API_CORS_ORIGINS if cors_origins is None else cors_origins)
        self.proxy_hops = proxy_hops
        max_age = settings.HSTS_MAX_AGE_SECONDS if hsts_max_age is None else hsts_max_age
        self.hsts = f"max-age={max_age}".encode() if max_age > 0 else None
        self.policies = csp.PolicyCache(connect_sources)

    def _https(self, scope: Scope, headers: Headers) -> bool:
        if scope.get("scheme") == "https":
            return True
        if self.proxy_hops <= 0:
            return False
        values = [v.strip().lower() for v in headers.get("x-forwarded-proto", "").split(",") if v.strip()]
        return len(values) >= self.proxy_hops and values[-self.proxy_hops] == "https"

    def fixed_headers(self, scope: Scope, headers: Headers) -> list[tuple[bytes, bytes]]:
        out = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"no-referrer")]
        if self.hsts is not None and self._https(scope, headers):
            out.append((b"strict-transport-security", self.hsts))
        return out

    def _policy(self, scope: Scope, start: Message, body: bytes) -> str:
        return self.policies.for_body(body, _encoding(start), path=scope["path"],
                                      etag=_header(start["headers"], b"etag"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        fixed = self.fixed_headers(scope, headers)
        api = is_api_path(scope["path"])
        if api:
            answer = self.cors.preflight(scope["method"], headers)
            if answer is not None:
                status, extra, body = answer
                await send({"type": "http.response.start", "status": status,
                            "headers": [*extra, *fixed, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            cors_headers = self.cors.response_headers(headers)
        else:
            scope = _readable_html(scope, headers)
        held: Message | None = None
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal held
            kind = message["type"]
            if kind == "http.response.start":
                out = [(k, v) for k, v in message.get("headers", []) if k.lower() not in REPLACED
                       and not (api and k.lower().startswith(b"access-control-"))]
                if api:
                    if not any(k.lower() == b"vary" and b"origin" in v.lower() for k, v in out):
                        out.append((b"vary", b"Origin"))
                    out += cors_headers
                message = {**message, "headers": out + fixed}
                if message["status"] == 304 or (scope["method"] == "HEAD" and _is_html(out)):
                    # The policy sent with this page's body before, if known: a 304's headers update the
                    # browser's cached copy, so a policy without the hashes must never come with one.
                    known = self.policies.for_etag(scope["path"], _header(out, b"etag"))
                    await send(message if known is None else _with_policy(message, known))
                elif not _is_html(out):
                    await send(message)
                elif message["status"] == 206:
                    await send(_with_policy(message, self.policies.base))
                else:
                    held = message
                return
            if held is None:
                await send(message)
            elif kind == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    await send(_with_policy(held, self._policy(scope, held, body)))
                    await send({"type": "http.response.body", "body": body})
            elif kind == "http.response.pathsend":
                body = await anyio.to_thread.run_sync(Path(message["path"]).read_bytes)
                await send(_with_policy(held, self._policy(scope, held, body)))
                await send(message)
            else:
                await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    return next((v for k, v in headers if k.lower() == name), b"")


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return _header(headers, b"content-type").split(b";")[0].strip().lower() == b"text/html"


def _encoding(message: Message) -> str:
    return _header(message["headers"], b"content-encoding").decode("latin-1")


def _with_policy(message: Message, policy: str) -> Message:
    return {**message, "headers": [*message["headers"], (b"content-security-policy", policy.encode())]}
