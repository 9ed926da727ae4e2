"""Every error as RFC 9457 ``application/problem+json``, with no personal data.

The ``detail`` names the record and the field (ids only), never an input value: request
validation errors give each field's location and the kind of error, not pydantic's message
(which may quote the input); a diagnosis code that does not parse is not repeated. The
``instance`` is an opaque id of the occurrence (not the URL, which may hold a code).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from nosology.exceptions import InvalidCodeError, NosologyError, UnknownPathwayError
from routing.exceptions import (
    ConflictError,
    DuplicateEventError,
    InvalidInputError,
    InvalidTransitionError,
    LifecycleSlotError,
    RoutingError,
    UnknownRouteError,
)
from routing.service.auth import AuthError

__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_RESPONSES",
    "NotFoundError",
    "Problem",
    "install_handlers",
    "problem_response",
]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error is answered (for the OpenAPI document)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": _TITLES[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status in (401, 403, 404, 409, 422)
}
"""The error answers every endpoint may give, for :class:`fastapi.FastAPI` ``responses``."""


class NotFoundError(Exception):
    """A resource the service does not hold; ``what`` names it by id (``"route 'R-1'"``)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what} is not found")


def problem_response(status: int, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document: type, title, status, detail and instance."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": f"urn:uuid:{uuid.uuid4()}",
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status(exc: Exception) -> int:
    if isinstance(exc, UnknownRouteError):
        return 404
    if isinstance(
        exc,
        ConflictError | LifecycleSlotError | DuplicateEventError | InvalidTransitionError,
    ):
        return 409
    return 422


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    errors = [
        {"field": ".".join(str(part) for part in e.get("loc", ())), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"invalid fields: {fields}{more}", errors


def install_handlers(app: FastAPI) -> None:
    """Map every error the endpoints raise to a problem document."""

    @app.exception_handler(AuthError)
    async def _auth(_request: Request, exc: AuthError) -> JSONResponse:
        return problem_response(exc.status, exc.reason)

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return problem_response(404, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(exc)
        return problem_response(422, detail, errors=errors)

    @app.exception_handler(InvalidInputError)
    async def _input(_request: Request, exc: InvalidInputError) -> JSONResponse:
        return problem_response(_status(exc), str(exc))

    @app.exception_handler(RoutingError)
    async def _routing(_request: Request, exc: RoutingError) -> JSONResponse:
        return problem_response(_status(exc), str(exc))

    @app.exception_handler(NosologyError)
    async def _nosology(_request: Request, exc: NosologyError) -> JSONResponse:
        if isinstance(exc, InvalidCodeError):  # its message and reason quote the code
            return problem_response(422, "the diagnosis code is malformed or not in МКБ-10")
        if isinstance(exc, UnknownPathwayError):
            return problem_response(404, "no such pathway, or no pathway applies")
        return problem_response(422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, _TITLES.get(exc.status_code, "error").lower())

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected %s", type(exc).__name__)
        return problem_response(500, "an unexpected error")
