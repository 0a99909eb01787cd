"""One table from the project's errors to HTTP answers (never "some 500")."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from refactored.application.errors import (
    DependencyUnavailable,
    DuplicateConversation,
    InvalidInput,
    NotFound,
    StorageUnavailable,
)
from refactored.infrastructure.container import Container
from refactored.infrastructure.web.validation import json_safe

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    def container(request: Request) -> Container:
        return request.app.state.container

    async def storage(request: Request, exc: Exception) -> JSONResponse:
        c = container(request)
        c.alerts.alert("P0", "Database unavailable", str(exc))
        return JSONResponse(
            {"detail": "storage unavailable, retry later", "error": "storage_unavailable"},
            status_code=503,
            headers={"Retry-After": str(c.settings.storage_retry_after_s)},
        )

    async def dependency(request: Request, exc: Exception) -> JSONResponse:
        name = getattr(exc, "dependency", "dependency")
        return JSONResponse(
            {"detail": str(exc), "error": f"{name}_unavailable"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI's own body, made JSON-safe: the echoed input may hold NaN or surrogates
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        # cut before encoding: jsonable_encoder recurses as deep as the input goes
        return JSONResponse(
            {"detail": json_safe(jsonable_encoder(json_safe(errors)))}, status_code=422
        )

    async def invalid_input(request: Request, exc: Exception) -> JSONResponse:
        # the client's values, refused by the database: not an outage (no P0, no Retry-After)
        log.info("request values refused by storage", extra={"reason": str(exc)})
        return JSONResponse({"detail": str(exc), "error": "invalid_input"}, status_code=422)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": "conflict"}, status_code=409)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        container(request).alerts.alert("P0", "Internal server error (500)", type(exc).__name__)
        return JSONResponse({"detail": "internal error", "error": "internal"}, status_code=500)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(InvalidInput, invalid_input)
    app.add_exception_handler(StorageUnavailable, storage)
    app.add_exception_handler(DependencyUnavailable, dependency)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(DuplicateConversation, conflict)
    app.add_exception_handler(Exception, internal)
