"""Dependencies the routers share: the service context of the running application."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from routing.service.context import ServiceContext
from routing.service.settings import ServiceSettings

__all__ = ["Context", "Settings", "get_context", "get_settings"]


def get_context(request: Request) -> ServiceContext:
    """The application's :class:`ServiceContext`."""
    context: ServiceContext = request.app.state.context
    return context


def get_settings(request: Request) -> ServiceSettings:
    """The application's settings."""
    settings: ServiceSettings = request.app.state.settings
    return settings


Context = Annotated[ServiceContext, Depends(get_context)]
Settings = Annotated[ServiceSettings, Depends(get_settings)]
