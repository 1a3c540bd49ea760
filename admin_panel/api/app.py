"""Routes of `/api/v1`. Every request: API key (401 unknown, 403 revoked; checked keys are remembered for a few
seconds, services/gateway/api_keys.py `KEYS`) and rate limit (429; services/gateway/ratelimit.py), then the work
through the services (the key's org is the only org it can touch). `POST /usage` and `POST /authorize` are checked in
plain Python on the event loop and handed to the group commit writer (services/gateway/group_commit.py), which
answers after its transaction committed; the GET endpoints read in a worker thread. JSON in, JSON out, also
for errors: {"error", "message", "fields": [{"field", "message"}]}."""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from admin_panel.api import bodies
from admin_panel.api.downloads import download
from admin_panel.api.openapi import openapi_document
from models import utcnow
from services.analytics import export_jobs
from services.core import settings
from services.core.db import get_engine, read_scope
from services.core.errors import Conflict, DomainError, RateLimited
from services.gateway import api_keys, authorization, balances, group_commit, ratelimit, reports
from services.usage import event_checks, ledger

PREFIX = "/api/v1"
CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
         413: "too_large", 422: "validation_error", 429: "rate_limited", 500: "internal_error"}


def error(status: int, message: str, fields: list[tuple[str, str]] | None = None, headers=None) -> JSONResponse:
    body = {"error": CODES.get(status, "error"), "message": message,
            "fields": [{"field": f, "message": m} for f, m in (fields or [])]}
    return JSONResponse(body, status_code=status, headers=headers)


def _from_domain(exc: DomainError, *, batch: bool = False) -> JSONResponse:
    """A domain error as its JSON answer: 422 for a malformed body, 404 for a user, model or reservation the
    body names that does not exist or is another org's (like a path; the schema can't know which exist),
    409 for a conflict."""
    if isinstance(exc, bodies.BodyErrors):
        return error(422, exc.message, exc.errors)
    if isinstance(exc, RateLimited):
        return error(429, exc.message, headers={"Retry-After": str(exc.retry_after)})
    status = exc.status
    if status == 400:
        status = 422
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Conflict) and exc.retry_after else None
    per_event = getattr(exc, "event_errors", None)
    if per_event is not None:  # every bad field of every event; "events[i]." in front for a batch body
        fields = [((f"events[{i}].{f}" if f else f"events[{i}]") if batch else (f or "body"), m)
                  for i, f, m, *_ in per_event]
    else:
        fields = [(exc.field, exc.message)] if exc.field else []
    return error(status, exc.message, fields, headers)


def _secret(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _iso(v):
    return v.isoformat() if isinstance(v, datetime) else v


class Api:
    def __init__(self, engine: Engine | None = None):
        self._engine = engine
        self._rate = ratelimit.LocalCounter()  # this process's counts (database backend)

    @property
    def engine(self) -> Engine:
        return self._engine or get_engine()

    async def _key(self, request: Request) -> api_keys.KeyInfo:
        """The request's API key, counted against its rate limit (DomainError: 401/403/429)."""
        secret = _secret(request)
        key = api_keys.KEYS.cached(secret)
        if key is None:
            key = await run_in_threadpool(api_keys.KEYS.load, self.engine, secret)
        if ratelimit.backend() == "redis":
            await run_in_threadpool(ratelimit.hit_redis, key.id)
        elif self._rate.hit(key.id):
            await run_in_threadpool(self._rate.flush, self.engine, key.id)
        return key

    async def _body(self, request: Request):
        """The parsed JSON body, or an error response (413 too large)."""
        limit = settings.GATEWAY_MAX_BODY_BYTES
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > limit:
            return None, error(413, f"The request body is larger than {limit:,} bytes.")
        chunks, n = [], 0
        while True:  # the ASGI messages themselves (Request.stream() costs more than the parsing here)
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            chunks.append(chunk)
            n += len(chunk)
            if n > limit:
                return None, error(413, f"The request body is larger than {limit:,} bytes.")
            if not message.get("more_body", False):
                return bodies.parse_json(b"".join(chunks)), None

    async def _handle(self, request: Request, work: Callable, *, with_body: bool, batch_of=None) -> JSONResponse:
        batch = False
        try:
            key = await self._key(request)
            body = None
            if with_body:
                body, too_large = await self._body(request)
                if too_large is not None:
                    return too_large
            if batch_of is not None:
                batch = batch_of(body)
            return await work(key, body)
        except DomainError as exc:
            return _from_domain(exc, batch=batch)

    async def _write(self, item):
        """Hand a checked item to the group commit writer; its outcome once committed (DomainError raised)."""
        return await group_commit.writer_for(self.engine).submit_async(item)

    # ------------------------------------------------------------------------------------------ endpoints
    async def usage(self, request: Request) -> JSONResponse:
        async def work(key, body):
            events, _batch = bodies.usage_events(body)
            try:
                pending = event_checks.check_events(events, utcnow())
            except DomainError as exc:
                raise await self._read(lambda db, e=exc: ledger.with_lookups(db, key.org_id, events, e)) from None
            report = reports.UsageReport(key.org_id, pending)
            results = await self._write(report)
            new = sum(1 for r in results if not r.duplicate)
            return JSONResponse({"recorded": new, "duplicates": len(results) - new, "results": [
                {"idempotency_key": r.idempotency_key, "event_id": r.event_id, "duplicate": r.duplicate,
                 "billed_tokens": r.billed_tokens} for r in results]})

        return await self._handle(request, work, with_body=True,
                                  batch_of=lambda body: isinstance(body, dict) and "events" in body)

    async def authorize(self, request: Request) -> JSONResponse:
        async def work(key, body):
            b = bodies.authorize_body(body)
            ask = authorization.check_ask(key.org_id, user=b["user"], model=b["model"], tokens=b["tokens"],
                                       kind=b.get("kind", "tokens"), reserve=b.get("reserve", False),
                                       ttl_seconds=b.get("ttl_seconds"), api_key_id=key.id)
            return JSONResponse((await self._write(ask)).as_dict())

        return await self._handle(request, work, with_body=True)

    def _read(self, fn: Callable):
        def run():
            with read_scope(self.engine) as db:
                return fn(db)
        return run_in_threadpool(run)

    async def balance(self, request: Request) -> JSONResponse:
        raw_id = request.path_params["user_id"]
        kind = request.query_params.get("kind", "tokens")
        user_id = int(raw_id) if raw_id.isdigit() and len(raw_id) <= 18 else -1

        async def work(key, _body):
            out = await self._read(lambda db: balances.balance(db, actor=ledger.gateway_actor(key.org_id),
                                                            user_id=user_id, kind=kind))
            return JSONResponse({k: _iso(v) for k, v in out.items()})

        return await self._handle(request, work, with_body=False)

    async def summary(self, request: Request) -> JSONResponse:
        async def work(key, _body):
            return JSONResponse(await self._read(
                lambda db: balances.org_summary(db, actor=ledger.gateway_actor(key.org_id))))

        return await self._handle(request, work, with_body=False)

    async def openapi(self, request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own errors (no such path, method not allowed) as JSON, keeping its headers (`Allow`)."""
    message = exc.detail if isinstance(exc.detail, str) else "Error."
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and headers.get("Allow"):
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))  # Starlette: a set
        message = f"Method {request.method} is not allowed here (allowed: {headers['Allow']})."
    return error(exc.status_code, message, headers=headers or None)


async def _outer_http_error(request: Request, exc: HTTPException) -> Response:
    """Errors of the app Reflex mounts itself in: a path under /api/v1 that no route matched (Starlette's
    routes match no newline in a path) gets the API's JSON 404; any other path Starlette's own answer."""
    if request.url.path.startswith(PREFIX + "/"):
        return await _http_error(request, exc)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return error(500, "Internal error.")


def create_api(engine: Engine | None = None) -> Starlette:
    """The `/api/v1` app (and the export downloads) in a Starlette app ready for `api_transformer` (Reflex mounts
    itself at "")."""
    api = Api(engine)
    v1 = Starlette(routes=[
        Route("/usage", api.usage, methods=["POST"]),
        Route("/authorize", api.authorize, methods=["POST"]),
        Route("/users/{user_id}/balance", api.balance, methods=["GET"]),
        Route("/org/summary", api.summary, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ], exception_handlers={HTTPException: _http_error, Exception: _server_error})
    return Starlette(routes=[Mount(PREFIX, app=v1),
                             Route(export_jobs.DOWNLOAD_PREFIX + "/{job_id}", download, methods=["GET"])],
                     exception_handlers={HTTPException: _outer_http_error})


gateway_api = create_api()
