"""CORS of `/api/v1` and `/downloads`: only the origins of STEWARD_API_CORS_ORIGINS (none by default), never
with credentials (the API authenticates with API keys in a header, downloads with a token in the URL).

Reflex wraps the whole backend, the mounted API included, in Starlette's CORSMiddleware with its
`cors_allowed_origins` (default "*") and credentials allowed, which echoes any Origin back with
`Access-Control-Allow-Credentials: true`. The security-headers middleware sits outside it: it answers the
preflight of these paths itself and replaces whatever Access-Control-* headers the inner layers added.
"""

from starlette.datastructures import Headers

from admin_panel.api.app import PREFIX
from services.analytics.export_jobs import DOWNLOAD_PREFIX

PATHS = (PREFIX, DOWNLOAD_PREFIX)
ALLOW_METHODS = b"GET, POST"
ALLOW_HEADERS = b"Authorization, Content-Type, X-API-Key"
EXPOSE_HEADERS = b"Retry-After"
MAX_AGE = b"600"
PREFLIGHT_VARY = b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def is_api_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PATHS)


class ApiCors:
    def __init__(self, origins):
        self.origins = frozenset(o.lower() for o in origins)

    def allows(self, origin: str | None) -> bool:
        return origin is not None and origin.lower() in self.origins

    def preflight(self, method: str, headers: Headers) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The answer to a CORS preflight (status, headers, body), or None when the request is not one."""
        origin = headers.get("origin")
        if method != "OPTIONS" or origin is None or "access-control-request-method" not in headers:
            return None
        vary = (b"vary", PREFLIGHT_VARY)
        if not self.allows(origin):
            return 403, [vary, (b"content-type", b"text/plain; charset=utf-8")], b"Origin not allowed."
        return 204, [(b"access-control-allow-origin", origin.encode("latin-1")),
                     (b"access-control-allow-methods", ALLOW_METHODS),
                     (b"access-control-allow-headers", ALLOW_HEADERS),
                     (b"access-control-max-age", MAX_AGE), vary], b""

    def response_headers(self, headers: Headers) -> list[tuple[bytes, bytes]]:
        """The Access-Control-* headers of an actual response (empty for a foreign or missing Origin)."""
        origin = headers.get("origin")
        if not self.allows(origin):
            return []
        return [(b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-expose-headers", EXPOSE_HEADERS)]
