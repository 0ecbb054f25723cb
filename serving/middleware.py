"""The guard in front of every `/v1` request (a plain ASGI middleware).

In order: authenticate the API key (401), find the endpoint (404/405),
check the caller's role (403), accept only `application/json` bodies (415:
pickle and other binary payloads are refused before a byte is read, so they
are never deserialized), bound the body size (413). On the way out it turns
every error into one JSON envelope: BentoML's 400 validation errors become
422 with field paths, server errors lose all detail (no stack traces or
paths; the log keeps them), and it records the `spm_api_*` metrics.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import anyio.to_thread

from serving.bootstrap import Runtime, get_runtime
from serving.errors import (
    ApiError,
    ErrorBody,
    FieldProblem,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
    json_path,
)
from serving.metrics import api_metrics
from serving.routes import API_PREFIX, find_endpoint
from serving.security import (
    Principal,
    api_key_from_headers,
    authenticate,
    authenticate_cached,
    require_role,
)

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_STATE = "spm_principal"
ERROR_STATE = "spm_error"
# Set by a handler whose error response is already a safe, meaningful body
# (readiness: 503 with the report of what is missing).
KEEP_BODY_STATE = "spm_keep_body"
JSON_MEDIA_TYPES = frozenset({"application/json"})


class MethodNotAllowedError(ApiError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def send_json(
    send: Send, status: int, payload: object, extra: dict[str, str] | None = None
) -> None:
    body = json.dumps(payload).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    for name, value in (extra or {}).items():
        headers.append((name.encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _envelope_for(status: int, raw: bytes, stashed: ApiError | None) -> ErrorBody:
    """The error envelope for an error response produced behind the guard."""
    if stashed is not None:
        return ErrorBody.from_error(stashed)
    if status >= 500:
        return ErrorBody(status, "internal_error", "an internal error occurred; see the server log")
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    if (
        status == HTTPStatus.BAD_REQUEST
        and isinstance(payload, dict)
        and isinstance(payload.get("detail"), list)
    ):
        # BentoML reports pydantic failures as 400; they are validation errors (422).
        problems = [
            FieldProblem(
                json_path(d.get("loc", [])),
                str(d.get("msg", "invalid")),
                str(d.get("type", "value_error")),
            )
            for d in payload["detail"]
            if isinstance(d, dict)
        ]
        count = len(problems)
        return ErrorBody(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_error",
            f"{count} invalid field{'s' if count != 1 else ''} in the request body",
            problems,
        )
    if status == HTTPStatus.NOT_FOUND:
        return ErrorBody(status, "not_found", "no such endpoint")
    return ErrorBody(status, "bad_request", HTTPStatus(status).phrase)


class ApiGuardMiddleware:
    def __init__(self, app: ASGIApp, runtime: Callable[[], Runtime] = get_runtime) -> None:
        self.app = app
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        endpoint = find_endpoint(path)
        label = endpoint.path if endpoint else "unknown"
        method = scope.get("method", "GET")
        method_label = method if method in ("GET", "POST") else "other"  # bounded label values
        outcome = {"status": 500}
        try:
            try:
                receive = await self._admit(scope, receive)
            except ApiError as error:
                outcome["status"] = int(error.status)
                self._count_refusal(error)
                extra = (
                    {"www-authenticate": "Bearer"}
                    if error.status == HTTPStatus.UNAUTHORIZED
                    else None
                )
                await send_json(
                    send, int(error.status), ErrorBody.from_error(error).to_json(), extra
                )
                return
            await self.app(scope, receive, self._rewriting_send(scope, send, outcome))
        finally:
            metrics = api_metrics()
            metrics.requests.labels(label, method_label, str(outcome["status"])).inc()
            metrics.latency.labels(label).observe(time.perf_counter() - started)

    async def _admit(self, scope: Scope, receive: Receive) -> Receive:
        """Authenticate and authorize a request; returns the receive to pass on."""
        try:
            runtime = self._runtime()
        except Exception:
            log.exception("the serving runtime could not be built")
            raise UnavailableError(
                "the service is not configured correctly; see the server log"
            ) from None
        headers = _headers(scope)
        presented = api_key_from_headers(headers)
        # A current cached record is checked on the loop; anything else reads the store
        # in a thread (it may be a remote database).
        principal: Principal | None = authenticate_cached(runtime.keys, presented)
        if principal is None:
            principal = await anyio.to_thread.run_sync(authenticate, runtime.keys, presented)
        endpoint = find_endpoint(scope["path"])
        if endpoint is None:
            raise NotFoundError("no such endpoint")
        if scope.get("method") != endpoint.method:
            raise MethodNotAllowedError(f"{endpoint.path} accepts {endpoint.method} only")
        require_role(principal, endpoint.roles, f"call {endpoint.path}")
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        if endpoint.method != "POST":
            return receive
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES:
            raise UnsupportedMediaTypeError(
                f"content type {media_type or '(none)'!r} is not accepted: send application/json"
            )
        limit = runtime.settings.max_request_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        return _replay(await _read_body(receive, limit))

    @staticmethod
    def _count_refusal(error: ApiError) -> None:
        if error.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            api_metrics().auth_failures.labels(error.code).inc()

    def _rewriting_send(self, scope: Scope, send: Send, outcome: dict[str, int]) -> Send:
        start: Message | None = None
        buffered: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                outcome["status"] = int(message["status"])
                if outcome["status"] < 400 or scope.get("state", {}).get(KEEP_BODY_STATE):
                    await send(message)
                else:
                    start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            buffered.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            stashed = scope.get("state", {}).get(ERROR_STATE)
            envelope = _envelope_for(int(start["status"]), b"".join(buffered), stashed)
            outcome["status"] = envelope.status
            if envelope.status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                api_metrics().auth_failures.labels(envelope.code).inc()
            keep = [
                (k, v)
                for k, v in start.get("headers", [])
                if k.lower() not in (b"content-type", b"content-length")
            ]
            body = json.dumps(envelope.to_json()).encode("utf-8")
            keep += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": envelope.status, "headers": keep})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return wrapped
