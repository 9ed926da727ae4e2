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

from fastapi import FastAPI

from routing._version import __version__
from routing.service.context import ServiceContext
from routing.service.errors import install_handlers
from routing.service.routers import catalogue, events, routes
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
    )
    app.state.settings = settings
    install_handlers(app)
    app.include_router(routes.router)
    app.include_router(events.router)
    app.include_router(catalogue.router)
    return app
