"""Who may call: clinicians and managers by bearer token, patients by a per-route link token.

A clinician token (from the settings) may read and change every route. A manager token may read
the manager's report (``GET /report``) and nothing else; clinicians and patient links may not
read the report. A patient link is the HMAC-SHA256 of the route id under the service's link
secret: it may read that route, its timeline and its calendar, nothing else. Every comparison
is :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from routing.service.context import ServiceContext
from routing.service.deps import get_context as _context
from routing.service.deps import get_settings as _settings
from routing.service.settings import ServiceSettings

__all__ = [
    "AuthError",
    "Caller",
    "Role",
    "clinician",
    "link_token",
    "manager",
    "route_reader",
]

_bearer = HTTPBearer(
    auto_error=False, description="A clinician or manager token, or a patient link token"
)


class Role(StrEnum):
    """What a caller is."""

    CLINICIAN = "clinician"
    MANAGER = "manager"
    PATIENT = "patient"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a clinician, or a patient holding the link of ``route_id``."""

    role: Role
    route_id: str | None = None


class AuthError(Exception):
    """A refused call: 401 (no or unknown token) or 403 (a known token without the right)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


def link_token(secret: str, route_id: str) -> str:
    """The patient link token of a route: URL-safe base64 of HMAC-SHA256(secret, route id).

    Examples
    --------
    >>> len(link_token("s", "R-1"))
    43
    """
    mac = hmac.new(secret.encode("utf-8"), route_id.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _known(tokens: frozenset[SecretStr], token: str) -> bool:
    found = False
    for known in tokens:  # no early exit: the time does not tell which
        found |= hmac.compare_digest(known.get_secret_value().encode(), token.encode())
    return found


def _is_clinician(settings: ServiceSettings, token: str) -> bool:
    return _known(settings.clinician_tokens, token)


def _is_manager(settings: ServiceSettings, token: str) -> bool:
    return _known(settings.manager_tokens, token)


def _link_route(settings: ServiceSettings, context: ServiceContext, token: str) -> str | None:
    """The route whose link ``token`` is, or ``None``."""
    secret = settings.link_secret.get_secret_value()
    for route_id in context.state().routes:
        if hmac.compare_digest(link_token(secret, route_id).encode(), token.encode()):
            return route_id
    return None


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise AuthError(401, "a bearer token is required")
    return credentials.credentials


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def clinician(request: Request, credentials: Credentials) -> Caller:
    """The caller, who must be a clinician (patient links get 403, anything else 401)."""
    token = _token(credentials)
    settings = _settings(request)
    if _is_clinician(settings, token):
        return Caller(Role.CLINICIAN)
    if _is_manager(settings, token):
        raise AuthError(403, "a manager token may only read the report")
    if _link_route(settings, _context(request), token) is not None:
        raise AuthError(403, "a patient link may only read its own route")
    raise AuthError(401, "the bearer token is not valid")


def manager(request: Request, credentials: Credentials) -> Caller:
    """The caller, who must be a manager (clinicians and patient links get 403, else 401)."""
    token = _token(credentials)
    settings = _settings(request)
    if _is_manager(settings, token):
        return Caller(Role.MANAGER)
    if _is_clinician(settings, token):
        raise AuthError(403, "the report is for managers; a clinician token may not read it")
    if _link_route(settings, _context(request), token) is not None:
        raise AuthError(403, "a patient link may only read its own route")
    raise AuthError(401, "the bearer token is not valid")


def route_reader(route_id: str, request: Request, credentials: Credentials) -> Caller:
    """The caller, who must be a clinician or hold the link of ``route_id``."""
    token = _token(credentials)
    settings = _settings(request)
    if _is_clinician(settings, token):
        return Caller(Role.CLINICIAN)
    secret = settings.link_secret.get_secret_value()
    if hmac.compare_digest(link_token(secret, route_id).encode(), token.encode()):
        return Caller(Role.PATIENT, route_id)
    if _is_manager(settings, token):
        raise AuthError(403, "a manager token may only read the report")
    if _link_route(settings, _context(request), token) is not None:
        raise AuthError(403, "a patient link may only read its own route")
    raise AuthError(401, "the bearer token is not valid")
