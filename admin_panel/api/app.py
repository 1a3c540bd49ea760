"""Routes of `/api/v1`. Every request: API key (401 unknown, 403 revoked) and rate limit (429) in one short
transaction, then the work in its own transaction through the services (the key's org is the only org it can
touch). JSON in, JSON out, also for errors: {"error", "message", "fields": [{"field", "message"}]}."""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from services import api_keys, gateway, ratelimit, settings, usage, webhooks
from services.db import get_engine, read_scope, session_scope
from services.errors import Conflict, DomainError, NotFound, RateLimited

from . import bodies
from .openapi import openapi_document

PREFIX = "/api/v1"
CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
         413: "too_large", 422: "validation_error", 429: "rate_limited", 500: "internal_error"}


def error(status: int, message: str, fields: list[tuple[str, str]] | None = None, headers=None) -> JSONResponse:
    body = {"error": CODES.get(status, "error"), "message": message,
            "fields": [{"field": f, "message": m} for f, m in (fields or [])]}
    return JSONResponse(body, status_code=status, headers=headers)


def _from_domain(exc: DomainError, *, body_refs: bool = False) -> JSONResponse:
    if isinstance(exc, bodies.BodyErrors):
        return error(422, exc.message, exc.errors)
    if isinstance(exc, RateLimited):
        return error(429, exc.message, headers={"Retry-After": str(exc.retry_after)})
    status = exc.status
    if isinstance(exc, NotFound) and body_refs and exc.field:
        status = 422  # an unknown user/model/reservation named in the body is a validation error
    if status == 400:
        status = 422
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Conflict) and exc.retry_after else None
    fields = [(exc.field, exc.message)] if exc.field else []
    return error(status, exc.message, fields, headers)


def _secret(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _usage_field_errors(engine: Engine, org_id: int, events: list) -> list[tuple[str, str]]:
    """Every bad field of a rejected batch, with its event index (only run when the batch failed)."""
    out = []
    now = gateway.utcnow()
    with read_scope(engine) as db:
        cache: dict = {}
        for i, raw in enumerate(events):
            try:
                usage._build_event(db, org_id, raw, cache, now)
            except DomainError as e:
                out.append((f"events[{i}].{e.field}" if e.field else f"events[{i}]", e.message))
    return out


def _iso(v):
    return v.isoformat() if isinstance(v, datetime) else v


class Api:
    def __init__(self, engine: Engine | None = None, *, worker: bool = True):
        self._engine = engine
        self._worker = worker

    @property
    def engine(self) -> Engine:
        return self._engine or get_engine()

    def _authenticated(self, request: Request, raw: bytes | None, work: Callable, *, body_refs=False) -> JSONResponse:
        if self._worker:
            webhooks.start_worker(self._engine)
        try:
            with session_scope(self.engine) as db:
                key = api_keys.authenticate(db, _secret(request))
                key_id, org_id = key.id, key.org_id
                ratelimit.hit(db, key_id)
        except DomainError as exc:
            return _from_domain(exc)
        actor = usage.gateway_actor(org_id)
        try:
            body = bodies.parse_json(raw) if raw is not None else None
            with session_scope(self.engine) as db:
                return work(db, actor, body, key_id)
        except DomainError as exc:
            return _from_domain(exc, body_refs=body_refs)

    async def _run(self, request: Request, work: Callable, *, with_body: bool, body_refs=False) -> JSONResponse:
        raw = None
        if with_body:
            size = request.headers.get("content-length")
            if size and size.isdigit() and int(size) > settings.GATEWAY_MAX_BODY_BYTES:
                return error(413, f"The request body is larger than {settings.GATEWAY_MAX_BODY_BYTES:,} bytes.")
            raw = b""
            async for chunk in request.stream():
                raw += chunk
                if len(raw) > settings.GATEWAY_MAX_BODY_BYTES:
                    return error(413, f"The request body is larger than {settings.GATEWAY_MAX_BODY_BYTES:,} bytes.")
        return await run_in_threadpool(self._authenticated, request, raw, work, body_refs=body_refs)

    # ------------------------------------------------------------------------------------------ endpoints
    async def usage(self, request: Request) -> JSONResponse:
        engine = self.engine

        def work(db, actor, body, _key_id):
            events, _batch = bodies.usage_events(body)
            try:
                results = gateway.report_usage(db, actor=actor, events=events)
            except DomainError as exc:
                if exc.status in (404, 422) and len(events) > 1:
                    db.rollback()
                    fields = _usage_field_errors(engine, actor.org_id, events)
                    if fields:
                        raise bodies.BodyErrors(fields) from None
                raise
            new = sum(1 for r in results if not r.duplicate)
            return JSONResponse({"recorded": new, "duplicates": len(results) - new, "results": [
                {"idempotency_key": r.idempotency_key, "event_id": r.event_id, "duplicate": r.duplicate,
                 "billed_tokens": r.billed_tokens} for r in results]})

        return await self._run(request, work, with_body=True, body_refs=True)

    async def authorize(self, request: Request) -> JSONResponse:
        def work(db, actor, body, key_id):
            b = bodies.authorize_body(body)
            decision = gateway.authorize(db, actor=actor, user=b["user"], model=b["model"], tokens=b["tokens"],
                                         kind=b.get("kind", "tokens"), reserve=b.get("reserve", False),
                                         ttl_seconds=b.get("ttl_seconds"), api_key_id=key_id)
            return JSONResponse(decision.as_dict())

        return await self._run(request, work, with_body=True, body_refs=True)

    async def balance(self, request: Request) -> JSONResponse:
        raw_id = request.path_params["user_id"]
        kind = request.query_params.get("kind", "tokens")

        def work(db, actor, _body, _key_id):
            user_id = int(raw_id) if raw_id.isdigit() and len(raw_id) <= 18 else -1
            return JSONResponse({k: _iso(v) for k, v in
                                 gateway.balance(db, actor=actor, user_id=user_id, kind=kind).items()})

        return await self._run(request, work, with_body=False)

    async def summary(self, request: Request) -> JSONResponse:
        def work(db, actor, _body, _key_id):
            return JSONResponse(gateway.org_summary(db, actor=actor))

        return await self._run(request, work, with_body=False)

    async def openapi(self, request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "Error.")


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return error(500, "Internal error.")


def create_api(engine: Engine | None = None, *, worker: bool = True) -> Starlette:
    """The `/api/v1` app wrapped in a Starlette app ready for `api_transformer` (Reflex mounts itself at "")."""
    api = Api(engine, worker=worker)
    v1 = Starlette(routes=[
        Route("/usage", api.usage, methods=["POST"]),
        Route("/authorize", api.authorize, methods=["POST"]),
        Route("/users/{user_id}/balance", api.balance, methods=["GET"]),
        Route("/org/summary", api.summary, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ], exception_handlers={HTTPException: _http_error, Exception: _server_error})
    return Starlette(routes=[Mount(PREFIX, app=v1)])


gateway_api = create_api()
