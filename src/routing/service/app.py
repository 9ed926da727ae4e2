"""The FastAPI application: :func:`create_app`.

Examples
--------
>>> app = create_app(ServiceSettings(db_url="sqlite://"))
>>> sorted(p for p in app.openapi()["paths"] if p.startswith("/routes/p"))
['/routes/plan', '/routes/propose']
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from routing._version import __version__
from routing.service.context import ServiceContext
from routing.service.errors import PROBLEM_JSON, PROBLEM_RESPONSES, install_handlers
from routing.service.routers import catalogue, events, report, routes
from routing.service.settings import ServiceSettings

__all__ = ["create_app"]


def create_app(settings: ServiceSettings) -> FastAPI:
    """The service's application; the journal is opened (and the problems published) at
    start-up and closed at shut-down.

    Parameters
    ----------
    settings
        The journal URL, problem files, clinician tokens and link secret.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ServiceContext.open(
            settings.db_url, settings.problems, time_limit=settings.plan_time_limit
        )
        app.state.context = context
        try:
            yield
        finally:
            context.close()

    app = FastAPI(
        title="patient-routing",
        version=__version__,
        summary="Care routes for patients over real appointment slots",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
    )
    app.state.settings = settings
    install_handlers(app)
    _problem_json_only(app)
    app.include_router(routes.router)
    app.include_router(events.router)
    app.include_router(catalogue.router)
    app.include_router(report.router)
    return app


def _problem_json_only(app: FastAPI) -> None:
    """Error answers are documented as ``application/problem+json`` alone (FastAPI adds an
    ``application/json`` entry beside it for a response with a model)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for operation in (op for path in document["paths"].values() for op in path.values()):
                for status, answer in operation.get("responses", {}).items():
                    if str(status).startswith("4") and PROBLEM_JSON in answer.get("content", {}):
                        answer["content"].pop("application/json", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
