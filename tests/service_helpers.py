"""A running HTTP service over the shipped example, for the service tests and benchmark smoke."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from routing.examples import example_text
from routing.service import ServiceSettings, create_app
from routing.service.server import serving

CLINICIAN = "clinician-token-1"
MANAGER = "manager-token-1"
SECRET = "link-secret-for-tests"


def example_settings(directory: Path, name: str = "lung_spb") -> ServiceSettings:
    """Settings over a fresh SQLite journal in ``directory`` and the example problem file."""
    problem = directory / f"{name}.json"
    problem.write_text(example_text(name), encoding="utf-8")
    return ServiceSettings(
        db_url=f"sqlite:///{directory / 'journal.db'}",
        problems=(problem,),
        clinician_tokens=frozenset({SecretStr(CLINICIAN)}),
        manager_tokens=frozenset({SecretStr(MANAGER)}),
        link_secret=SecretStr(SECRET),
    )


@contextmanager
def running_service(directory: Path, name: str = "lung_spb") -> Iterator[str]:
    """A real uvicorn server on a free loopback port; yields its base URL."""
    with serving(create_app(example_settings(directory, name))) as url:
        yield url


def clinician_headers() -> dict[str, str]:
    """The Authorization header of the test clinician."""
    return {"Authorization": f"Bearer {CLINICIAN}"}


def manager_headers() -> dict[str, str]:
    """The Authorization header of the test manager (the report only)."""
    return {"Authorization": f"Bearer {MANAGER}"}
