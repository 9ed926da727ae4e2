"""What the HTTP service is started with: the journal, the problem files, tokens and a secret."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from nosology.pathway import FrozenModel
from routing.exceptions import InvalidInputError

__all__ = [
    "LINK_SECRET_ENV",
    "MANAGER_TOKENS_ENV",
    "TOKENS_ENV",
    "ServiceSettings",
    "read_tokens",
]

TOKENS_ENV = "ROUTING_SERVICE_TOKENS"
"""Environment variable with clinician tokens, separated by commas or whitespace."""

MANAGER_TOKENS_ENV = "ROUTING_SERVICE_MANAGER_TOKENS"
"""Environment variable with manager tokens (the report only), as :data:`TOKENS_ENV`."""

LINK_SECRET_ENV = "ROUTING_SERVICE_LINK_SECRET"
"""Environment variable with the secret that patient links are signed with."""


class ServiceSettings(FrozenModel):
    """The service's configuration.

    Attributes
    ----------
    db_url
        The journal's SQLAlchemy URL; the default SQLite file of the working directory when
        ``None`` (see :func:`routing.lifecycle.journal.default_url`).
    problems
        Problem files whose facilities and slots are published into the journal at start (once
        per file content: a restart does not publish them again).
    clinician_tokens
        Bearer tokens of clinicians (may read and change every route).
    manager_tokens
        Bearer tokens of managers: they may read the manager's report (``GET /report``) and
        nothing else; no token may be both a clinician's and a manager's.
    link_secret
        The key of patient links (an HMAC of the route id). Links stay valid across restarts only
        with the same secret.
    plan_time_limit
        Seconds one plan may search.
    """

    db_url: str | None = None
    problems: tuple[Path, ...] = ()
    clinician_tokens: frozenset[SecretStr] = frozenset()
    manager_tokens: frozenset[SecretStr] = frozenset()
    link_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    plan_time_limit: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _roles_apart(self) -> ServiceSettings:
        clinicians = {t.get_secret_value() for t in self.clinician_tokens}
        if any(t.get_secret_value() in clinicians for t in self.manager_tokens):
            raise InvalidInputError(
                "service settings", "manager_tokens", "a manager token is also a clinician token"
            )
        return self

    @classmethod
    def from_sources(
        cls,
        *,
        db_url: str | None = None,
        problems: tuple[Path, ...] = (),
        token_file: Path | None = None,
        manager_token_file: Path | None = None,
    ) -> ServiceSettings:
        """Settings from arguments, token files and the environment (:data:`TOKENS_ENV`,
        :data:`MANAGER_TOKENS_ENV`, :data:`LINK_SECRET_ENV`).

        Raises
        ------
        InvalidInputError
            If no clinician token is configured anywhere, or a token is both a clinician's and
            a manager's.
        OSError
            If a token file cannot be read.
        """
        tokens = set(read_tokens(os.environ.get(TOKENS_ENV, "")))
        if token_file is not None:
            tokens |= set(read_tokens(token_file.read_text(encoding="utf-8")))
        if not tokens:
            raise InvalidInputError(
                "service settings", "clinician_tokens", f"none given (--token-file or {TOKENS_ENV})"
            )
        managers = set(read_tokens(os.environ.get(MANAGER_TOKENS_ENV, "")))
        if manager_token_file is not None:
            managers |= set(read_tokens(manager_token_file.read_text(encoding="utf-8")))
        if managers & tokens:
            raise InvalidInputError(
                "service settings", "manager_tokens", "a manager token is also a clinician token"
            )
        settings = cls(
            db_url=db_url,
            problems=problems,
            clinician_tokens=frozenset(SecretStr(t) for t in tokens),
            manager_tokens=frozenset(SecretStr(t) for t in managers),
        )
        secret = os.environ.get(LINK_SECRET_ENV)
        if secret:
            settings = settings.model_copy(update={"link_secret": SecretStr(secret)})
        return settings


def read_tokens(text: str) -> list[str]:
    """Tokens from text: one per line or separated by commas; ``#`` starts a comment.

    Examples
    --------
    >>> read_tokens("alpha, beta\\n# comment\\ngamma")
    ['alpha', 'beta', 'gamma']
    """
    tokens: list[str] = []
    for line in text.splitlines():
        body = line.split("#", 1)[0]
        tokens += [t for t in body.replace(",", " ").split() if t]
    return tokens
