"""The HTTP service: plan, propose, book and follow routes over the lifecycle journal.

- :mod:`~routing.service.settings`: what the service is started with;
- :mod:`~routing.service.context`: the journal, catalogue and planned results it serves;
- :mod:`~routing.service.auth`: clinician bearer tokens and per-route patient links;
- :mod:`~routing.service.errors`: every error as RFC 9457 ``application/problem+json``;
- :mod:`~routing.service.routers`: the endpoints;
- :mod:`~routing.service.app`: :func:`create_app`.

Needs the ``service`` extra (FastAPI and uvicorn).
"""

from __future__ import annotations

from routing.service.app import create_app
from routing.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
