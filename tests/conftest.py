"""Test settings: hypothesis draws the same examples on every run (CI must not be flaky).

Set ``HYPOTHESIS_PROFILE=explore`` to draw fresh random examples instead (and keep failures in
the local example database).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster's URL (tests/postgres.py); in CI a failure, never a skip."""
    from postgres import PostgresUnavailableError, postgres_cluster

    try:
        with postgres_cluster() as url:
            yield url
    except PostgresUnavailableError as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"no PostgreSQL server here: {exc}")


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the throwaway cluster, by URL."""
    from sqlalchemy import create_engine, text

    name = f"t{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"
