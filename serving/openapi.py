"""Completes BentoML's generated OpenAPI document (`/docs.json`) with what the
guard adds: the API-key security schemes, the error envelope and its status
codes (422, not BentoML's 400, for validation), and the GET health routes
that BentoML does not list because they are a mounted Starlette app."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from serving.middleware import ASGIApp, Message, Receive, Scope, Send
from serving.routes import API_PREFIX, ENDPOINTS
from serving.schemas import ErrorEnvelope, Health, Readiness

REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    "401": "Missing, invalid or revoked API key.",
    "403": "The key's role or rep scope does not allow this.",
    "413": "Body larger than max_request_bytes, or more rows than max_rows.",
    "415": "Only application/json bodies are accepted (pickle and binary are refused).",
    "422": "Validation failed; `fields` lists each JSON path at fault.",
    "503": "A component the endpoint needs is unavailable.",
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer spm_<id>_<secret>",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
GET_MODELS: dict[str, type[BaseModel]] = {"/v1/health": Health, "/v1/health/ready": Readiness}


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorEnvelope, Health, Readiness]
    _, top = models_json_schema([(m, "serialization") for m in models], ref_template=REF)
    return dict(top.get("$defs", {}))


def _error_responses() -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": REF.format(model="ErrorEnvelope")}}}
    return {
        code: {"description": text, "content": content} for code, text in ERROR_STATUSES.items()
    }


def patch_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with security, error responses and health routes added."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {}).update(_schemas())
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
    paths = spec.setdefault("paths", {})
    for endpoint in ENDPOINTS:
        if endpoint.method == "GET" and endpoint.path in GET_MODELS:
            model = GET_MODELS[endpoint.path]
            paths[endpoint.path] = {
                "get": {
                    "summary": endpoint.summary,
                    "tags": ["Service APIs"],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": REF.format(model=model.__name__)}
                                }
                            },
                        }
                    },
                }
            }
    for path, item in paths.items():
        if not path.startswith(API_PREFIX + "/"):
            continue
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            roles = next((e.roles for e in ENDPOINTS if e.path == path), frozenset())
            operation["responses"].pop("400", None)
            operation["responses"].update(_error_responses())
            operation["security"] = security
            operation["description"] = (
                operation.get("description") or operation.get("summary", "")
            ).strip() + f"\n\nRoles: {', '.join(sorted(r.value for r in roles))}."
    return spec


class OpenApiMiddleware:
    """Rewrites the `/docs.json` response through `patch_openapi`."""

    def __init__(self, app: ASGIApp, path: str = "/docs.json") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, buffer)
        assert start is not None
        body = b"".join(chunks)
        if start["status"] == 200:
            body = json.dumps(patch_openapi(json.loads(body))).encode("utf-8")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
