"""App factory: ``gunicorn 'legacy.main:create_app()' -k uvicorn_worker.UvicornWorker``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from legacy.api.routes import router
from legacy.body_limit import BodySizeLimitMiddleware
from legacy.config import load_settings
from legacy.db import make_engine, make_session_factory
from legacy.scheduler import start_scheduler
from legacy.services.alerts import send_alert

logger = logging.getLogger("legacy")


def create_app() -> FastAPI:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        scheduler = (
            start_scheduler(engine, settings) if settings.nightly_scheduler_enabled else None
        )
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            engine.dispose()

    app = FastAPI(title="context service (legacy)", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(BodySizeLimitMiddleware)
    app.include_router(router)

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        logger.exception("database error on %s", request.url.path, exc_info=exc)
        send_alert(
            settings.alert_webhook_url,
            "P0",
            "Database error",
            f"{request.method} {request.url.path}: {type(exc).__name__}",
        )
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    return app
