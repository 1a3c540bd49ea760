"""The security-headers middleware (admin_panel/runtime/security_headers.py) on a small ASGI app built like Reflex's:
Starlette's CORSMiddleware with any origin and credentials around everything (App._add_cors), a page with
inline scripts (plain, gzip, sent as a file), JSON under /api/v1, a CSV under /downloads, a static asset.
Every response gets the fixed headers, HSTS only over HTTPS (X-Forwarded-Proto only behind trusted proxies), pages get
a CSP with the hashes of their inline scripts, and the API's CORS answers configured origins only, never with
credentials."""

import base64
import gzip
import hashlib

import anyio
import pytest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from admin_panel.runtime.csp import backend_sources, inline_script_hashes
from admin_panel.runtime.security_headers import SecurityHeaders
from services.core import settings

SCRIPTS = ("window.__ctx = {\"a\": 1};", "$RC(\"B:1\",\"S:1\")")
PAGE = ("<!DOCTYPE html><html><head><script src=\"/assets/x.js\"></script>"
        f"<script>{SCRIPTS[0]}</script></head><body>"
        f"<script type=\"module\" async=\"\">{SCRIPTS[1]}</script></body></html>").encode()
FRIEND, EVIL = "https://tools.example.com", "https://evil.example"
FIXED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
PATHS = ("/login", "/login.gz", "/assets/app.js", "/api/v1/org/summary", "/downloads/job-1", "/missing")


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "login.html"
    path.write_bytes(PAGE)
    return path


def _inner(page_file):
    async def page(request):
        if request.headers.get("if-none-match") == '"v1"':
            return Response(status_code=304, headers={"etag": '"v1"'})
        return Response(PAGE, media_type="text/html; charset=utf-8", headers={"etag": '"v1"'})

    routes = [
        Route("/login", page),
        Route("/login.gz", lambda r: Response(gzip.compress(PAGE), media_type="text/html",
                                              headers={"content-encoding": "gzip"})),
        Route("/login-file", lambda r: FileResponse(page_file, media_type="text/html")),
        Route("/assets/app.js", lambda r: PlainTextResponse("console.log(1)", media_type="text/javascript")),
        Route("/api/v1/org/summary", lambda r: JSONResponse({"error": "unauthorized"}, status_code=401),
              methods=["GET", "POST"]),
        Route("/downloads/{job}", lambda r: PlainTextResponse("a,b\n", media_type="text/csv",
                                                              headers={"x-content-type-options": "nosniff"})),
    ]
    app = Starlette(routes=routes)
    # What Reflex adds around the whole backend (reflex/app.py App._add_cors) with its default "*".
    app.add_middleware(CORSMiddleware, allow_credentials=True, allow_methods=["*"], allow_headers=["*"],
                       allow_origins=["*"])
    return app


def _client(page_file, *, base_url="http://testserver", **options) -> TestClient:
    return TestClient(SecurityHeaders(_inner(page_file), cors_origins=(FRIEND,), **options), base_url=base_url)


@pytest.mark.parametrize("path", PATHS)
def test_every_response_gets_the_fixed_headers_and_no_hsts_over_http(page_file, path):
    r = _client(page_file).get(path, headers={"origin": EVIL})
    for name, value in FIXED.items():
        assert r.headers.get_list(name) == [value], (name, r.headers.get_list(name))
    assert "strict-transport-security" not in r.headers


@pytest.mark.parametrize("path", PATHS)
def test_hsts_over_https_only(page_file, path):
    r = _client(page_file, base_url="https://testserver").get(path)
    assert r.headers["strict-transport-security"] == f"max-age={settings.HSTS_MAX_AGE_SECONDS}"


def _hsts(client: TestClient, forwarded: str | None) -> bool:
    headers = {"x-forwarded-proto": forwarded} if forwarded is not None else {}
    return "strict-transport-security" in client.get("/login", headers=headers).headers


def test_forwarded_proto_counts_only_behind_trusted_proxies(page_file):
    """As Reflex reads X-Forwarded-For with trusted_proxy_hops: the value that many hops from the right."""
    assert not _hsts(_client(page_file), "https")  # no proxy trusted: anyone could send it
    one, two = _client(page_file, proxy_hops=1), _client(page_file, proxy_hops=2)
    assert _hsts(one, "https") and _hsts(one, "http, https")
    assert not _hsts(one, "https, http") and not _hsts(one, None)  # the client's own claim, then the proxy's
    assert _hsts(two, "https, http") and not _hsts(two, "https")  # fewer values than proxies: not trusted


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/login", "/login.gz"])
def test_pages_get_a_csp_with_the_hashes_of_their_inline_scripts(page_file, path):
    r = _client(page_file).get(path)
    d = _directives(r.headers["content-security-policy"])
    assert d["script-src"] == ["'self'", _sha(SCRIPTS[0]), _sha(SCRIPTS[1])]  # no 'unsafe-inline', no src script
    assert d["frame-ancestors"] == ["'none'"] and d["object-src"] == ["'none'"]
    assert d["base-uri"] == ["'self'"] and d["form-action"] == ["'self'"] and d["default-src"] == ["'self'"]
    assert d["connect-src"] == ["'self'"] and "data:" in d["img-src"]
    assert r.content == PAGE  # the body passes unchanged


def test_page_sent_as_a_file_by_the_server(page_file):
    """Granian offers ASGI pathsend: FileResponse then sends the path, not the bytes; the policy reads the file."""
    sent = []
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/login-file", "raw_path": b"/login-file",
             "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver")],
             "server": ("testserver", 80), "client": ("127.0.0.1", 1), "extensions": {"http.response.pathsend": {}}}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    anyio.run(SecurityHeaders(_inner(page_file)), scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
    policy = dict(sent[0]["headers"])[b"content-security-policy"].decode()
    assert _sha(SCRIPTS[0]) in _directives(policy)["script-src"]


def test_no_csp_on_other_responses(page_file):
    client = _client(page_file)
    for path in ("/assets/app.js", "/api/v1/org/summary", "/downloads/job-1"):
        assert "content-security-policy" not in client.get(path).headers


def test_a_304_repeats_the_policy_sent_with_that_etag_or_sends_none(page_file):
    """A 304's headers replace those of the browser's cached page: never a policy without the page's hashes."""
    client = _client(page_file)
    conditional = {"if-none-match": '"v1"'}
    unknown = client.get("/login", headers=conditional)
    assert unknown.status_code == 304 and "content-security-policy" not in unknown.headers
    assert unknown.headers["x-frame-options"] == "DENY"
    policy = client.get("/login").headers["content-security-policy"]
    again = client.get("/login", headers=conditional)
    assert again.status_code == 304 and again.headers["content-security-policy"] == policy
    assert client.head("/login").headers["content-security-policy"] == policy


def test_hash_of_crlf_scripts_as_the_browser_reads_them():
    assert inline_script_hashes(b"<script>a\r\nb\rc</script>") == (_sha("a\nb\nc"),)
    assert inline_script_hashes(b'<script data-src="x">d</script><script src="y"></script>') == (_sha("d"),)


@pytest.mark.parametrize("path", ["/api/v1/org/summary", "/downloads/job-1"])
def test_api_cors_ignores_a_foreign_origin(page_file, path):
    client = _client(page_file)
    r = client.get(path, headers={"origin": EVIL, "cookie": "session=1"})
    assert not [k for k in r.headers if k.lower().startswith("access-control-")], r.headers
    assert "origin" in r.headers["vary"].lower()
    pre = client.options(path, headers={"origin": EVIL, "access-control-request-method": "POST",
                                        "access-control-request-headers": "authorization"})
    assert pre.status_code == 403
    assert not [k for k in pre.headers if k.lower().startswith("access-control-")], pre.headers
    assert pre.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/api/v1/org/summary", "/downloads/job-1"])
def test_api_cors_answers_a_configured_origin_without_credentials(page_file, path):
    client = _client(page_file)
    r = client.get(path, headers={"origin": FRIEND, "cookie": "session=1"})
    assert r.headers.get_list("access-control-allow-origin") == [FRIEND]
    assert "access-control-allow-credentials" not in r.headers
    pre = client.options(path, headers={"origin": FRIEND, "access-control-request-method": "POST",
                                        "access-control-request-headers": "authorization, content-type"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == FRIEND
    assert pre.headers["access-control-allow-methods"] == "GET, POST"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in pre.headers


def test_no_origins_by_default(monkeypatch):
    assert settings.API_CORS_ORIGINS == ()  # nothing configured in tests: the default
    monkeypatch.setenv("STEWARD_API_CORS_ORIGINS", " https://A.example.com/ , http://localhost:5173")
    assert settings._origins("STEWARD_API_CORS_ORIGINS") == ("https://a.example.com", "http://localhost:5173")
    for bad in ("*", "https://a.example.com/path", "ftp://a.example.com", "a.example.com"):
        monkeypatch.setenv("STEWARD_API_CORS_ORIGINS", bad)
        with pytest.raises(ValueError):
            settings._origins("STEWARD_API_CORS_ORIGINS")


def test_connect_src_names_a_backend_on_another_host_only():
    assert backend_sources("http://localhost:3000") == ()  # the frontend swaps in the page's host
    assert backend_sources("https://api.example.com") == ("https://api.example.com", "wss://api.example.com")
