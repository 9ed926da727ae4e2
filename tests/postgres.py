"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temporary directory.

The binaries are looked up on ``PATH``, then in ``/usr/lib/postgresql/*/bin``. PostgreSQL
refuses to run as root, so as root the cluster is created and started as the ``postgres``
user (``runuser``), in a directory that user owns. It listens on a free TCP port of
127.0.0.1 and on a unix socket in the same temporary directory, trusts local connections, and
is stopped (``pg_ctl stop -m immediate``) and removed at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PostgresUnavailableError", "find_bin", "postgres_cluster"]


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server could be started here (the reason says why)."""


def find_bin(name: str) -> str | None:
    """The path of a PostgreSQL program, on PATH or in /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster; yield its SQLAlchemy URL (``postgresql+psycopg://``); stop it.

    Raises
    ------
    PostgresUnavailableError
        If ``initdb`` or ``pg_ctl`` is missing, or the server does not start.
    """
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailableError("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql")
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailableError("running as root without runuser")
        prefix = [runuser, "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="routing-pg-"))
    data, log = root / "data", root / "server.log"
    if as_root:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-2000:]
            raise PostgresUnavailableError(f"{Path(args[0]).name} failed: {tail}")

    try:
        run(initdb, "-D", str(data), "-U", "routing", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-p {port} -k {root} -h 127.0.0.1 -c fsync=off"
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
        try:
            yield f"postgresql+psycopg://routing@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=120,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
