"""Errors the HTTP layer turns into responses: each carries its status and a
message safe to show a caller (no stack traces, no internal paths)."""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: a JSON path such as `transactions[3].amount` and why."""

    path: str
    message: str
    type: str = "value_error"


class ApiError(Exception):
    """Base of every error the API reports on purpose."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "internal_error"

    def __init__(self, message: str, *, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields: list[FieldProblem] = list(fields or [])


class UnauthenticatedError(ApiError):
    status = HTTPStatus.UNAUTHORIZED
    code = "unauthenticated"


class ForbiddenError(ApiError):
    status = HTTPStatus.FORBIDDEN
    code = "forbidden"


class InvalidRequestError(ApiError):
    """The request is well-formed JSON but its content is wrong (422)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    code = "validation_error"


class PayloadTooLargeError(ApiError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class UnsupportedMediaTypeError(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    code = "unsupported_media_type"


class NotFoundError(ApiError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class UnavailableError(ApiError):
    """A component the endpoint needs (engine, model, store) is not available."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "unavailable"


@dataclass(frozen=True)
class ErrorBody:
    """The one error envelope every `/v1` endpoint returns."""

    status: int
    code: str
    message: str
    fields: list[FieldProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }
        if self.fields:
            body["fields"] = [
                {"path": f.path, "message": f.message, "type": f.type} for f in self.fields
            ]
        return {"error": body}

    @classmethod
    def from_error(cls, error: ApiError) -> ErrorBody:
        return cls(int(error.status), error.code, error.message, error.fields)


def json_path(loc: tuple[object, ...] | list[object]) -> str:
    """Render a pydantic location as a JSON path: ('transactions', 3, 'amount')
    → `transactions[3].amount` (the empty location is the whole body: `$`)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "$"
