"""The service's endpoints, one router per concern."""

from __future__ import annotations

from routing.service.routers import catalogue, events, report, routes

__all__ = ["catalogue", "events", "report", "routes"]
