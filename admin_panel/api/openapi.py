"""The OpenAPI 3.1 document of `/api/v1`, written out by hand from the endpoint specs below."""

from functools import lru_cache

from models import INT64_MAX
from services.core import settings
from services.gateway.authorization import REASONS
from services.usage.event_checks import FUTURE_SKEW, MAX_AGE, MAX_BATCH

TOKENS = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}
# What the API checks of names and keys, as patterns: no NUL (PostgreSQL refuses it in text), and for the
# required ones something besides the whitespace str.strip() removes. The whitespace is spelled out: `\s`
# means different sets in Python, ECMAScript and Rust regexes (tests/services/test_gateway_api.py checks it).
BLANK = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = rf"^[^\x00]*[^\x00{BLANK}][^\x00]*$"
USER_REF = {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "format": "email", "maxLength": 320}],
            "description": "The user's id or email (in the key's organization)."}
MODEL = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK}
KIND = {"type": "string", "enum": ["tokens", "training"], "default": "tokens"}

SCHEMAS = {
    "UsageEvent": {
        "type": "object", "additionalProperties": False, "required": ["idempotency_key", "user", "model"],
        "properties": {
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK,
                                "description": "Unique per event: a retry with the same key and event is answered "
                                               "`duplicate: true`; the same key with another event is a 409."},
            "user": USER_REF,
            "model": MODEL,
            "prompt_tokens": {**TOKENS, "default": 0},
            "completion_tokens": {**TOKENS, "default": 0},
            "kind": KIND,
            "occurred_at": {"type": "string", "format": "date-time",
                            "description": f"Default: now (UTC). At most {MAX_AGE.days} days ago and "
                                           f"{FUTURE_SKEW.total_seconds() // 60:.0f} minutes ahead (else 422)."},
            "ip": {"type": "string", "maxLength": 45, "pattern": NO_NUL},
            "reservation_id": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": NO_NUL,
                               "description": "Settles this reservation from POST /authorize."},
        },
    },
    "UsageBatch": {"type": "object", "additionalProperties": False, "required": ["events"], "properties": {
        "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                   "items": {"$ref": "#/components/schemas/UsageEvent"}}}},
    "UsageResult": {"type": "object", "properties": {
        "recorded": {"type": "integer"}, "duplicates": {"type": "integer"},
        "results": {"type": "array", "items": {"type": "object", "properties": {
            "idempotency_key": {"type": "string"}, "event_id": {"type": "integer"}, "duplicate": {"type": "boolean"},
            "billed_tokens": TOKENS}}}}},
    "AuthorizeRequest": {
        "type": "object", "additionalProperties": False, "required": ["user", "model", "tokens"],
        "properties": {
            "user": USER_REF, "model": MODEL,
            "tokens": {**TOKENS, "minimum": 1, "description": "Billed tokens the call may cost."},
            "kind": KIND,
            "reserve": {"type": "boolean", "default": False,
                        "description": "Hold the tokens until a usage report settles them or they expire."},
            "ttl_seconds": {"type": "integer", "minimum": 1, "maximum": settings.RESERVATION_MAX_TTL_SECONDS,
                            "default": settings.RESERVATION_TTL_SECONDS},
        },
    },
    "Decision": {"type": "object", "properties": {
        "allowed": {"type": "boolean"}, "reason": {"type": "string", "enum": list(REASONS)},
        "remaining": TOKENS, "user_remaining": TOKENS, "org_remaining": TOKENS,
        "reservation_id": {"type": ["string", "null"]}, "reserved": TOKENS,
        "expires_at": {"type": ["string", "null"], "format": "date-time"}}},
    "Balance": {"type": "object", "properties": {
        "user_id": {"type": "integer"}, "email": {"type": "string"}, "kind": KIND, "cap": TOKENS,
        "used_this_month": TOKENS, "reserved": TOKENS, "user_remaining": TOKENS, "org_remaining": TOKENS,
        "remaining": TOKENS, "banned": {"type": "boolean"}, "paid": {"type": "boolean"}}},
    "KindSummary": {"type": "object", "properties": {
        "purchased": TOKENS, "assigned": TOKENS, "used_this_month": TOKENS, "pool_used": TOKENS,
        "pool_remaining": TOKENS, "reserved": TOKENS, "monthly_cap": {"type": ["integer", "null"]}}},
    "OrgSummary": {"type": "object", "properties": {
        "org_id": {"type": "integer"}, "name": {"type": "string"}, "users": {"type": "integer"},
        "closest_expiry": {"type": ["string", "null"], "format": "date-time"},
        "tokens": {"$ref": "#/components/schemas/KindSummary"},
        "training": {"$ref": "#/components/schemas/KindSummary"}}},
    "Error": {"type": "object", "required": ["error", "message", "fields"], "properties": {
        "error": {"type": "string", "enum": ["unauthorized", "forbidden", "not_found", "conflict", "too_large",
                                             "validation_error", "rate_limited", "method_not_allowed"]},
        "message": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}}}},
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int, **texts: str) -> dict:
    """Error responses; `texts` ("e404"=…) replace the default description of a code."""
    text = {401: "Missing or unknown API key.", 403: "The API key is revoked.", 404: "Not found (or another org's).",
            409: "Conflict (reservation already settled or expired).", 413: "Body too large.",
            422: "Validation failed; `fields` names each bad field.",
            429: "Rate limit exceeded; see Retry-After."}
    return {str(c): {"description": texts.get(f"e{c}", text[c]),
                     "content": {"application/json": {"schema": _ref("Error")}}} for c in codes}


REFS_404 = ("A user, model or reservation the body names does not exist (or is another org's); `fields` names "
            "each one (`events[i].user` in a batch). Nothing is recorded.")


def _ok(schema: str, text: str) -> dict:
    return {"200": {"description": text, "content": {"application/json": {"schema": _ref(schema)}}}}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    common = (401, 403, 429)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Steward Gateway API", "version": "1.0.0",
                 "description": "Usage reporting and spend authorization for GenAI gateways. Authenticate with "
                                "`Authorization: Bearer <API key>` (or `X-API-Key`)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "paths": {
            "/usage": {"post": {
                "summary": f"Report one usage event or a batch (at most {MAX_BATCH}).", "operationId": "reportUsage",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [_ref("UsageEvent"), _ref("UsageBatch")]}}}},
                "responses": {**_ok("UsageResult", "Recorded (retried keys are acknowledged as duplicates)."),
                              **_errors(*common, 404, 409, 413, 422, e404=REFS_404, e409=(
                                  "A reservation already settled by another report or expired, or an "
                                  "idempotency_key already used for a different event. Nothing is recorded."))}}},
            "/authorize": {"post": {
                "summary": "May this user spend N billed tokens now? Optionally reserve them.",
                "operationId": "authorize",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("AuthorizeRequest")}}},
                "responses": {**_ok("Decision", "Allowed or denied with a reason (an unknown user: `unknown_user`)."),
                              **_errors(*common, 404, 413, 422, e404="The model does not exist.")}}},
            "/users/{user_id}/balance": {"get": {
                "summary": "A user's remaining budget this month.", "operationId": "userBalance",
                "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                               {"name": "kind", "in": "query", "required": False, "schema": KIND}],
                "responses": {**_ok("Balance", "The balance."), **_errors(*common, 404, 422)}}},
            "/org/summary": {"get": {
                "summary": "The key's organization: pool, assigned, used this month, reserved.",
                "operationId": "orgSummary", "responses": {**_ok("OrgSummary", "The summary."), **_errors(*common)}}},
            "/openapi.json": {"get": {"summary": "This document.", "operationId": "openapi", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
    }
