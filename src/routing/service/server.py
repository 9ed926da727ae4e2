"""Run the application under uvicorn: in the foreground (``routing serve``) or in a thread.

uvicorn's access log is off: a request line may carry a diagnosis code
(``/codes/{code}/resolve``), which must not reach a log.

:func:`serving` is for embedding and tests: the server listens on a socket this process has
bound already (port 0 picks a free one), in a background thread, and is stopped on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

__all__ = ["serve", "serving"]


def serve(app: FastAPI, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


@contextmanager
def serving(
    app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 60.0
) -> Iterator[str]:
    """Serve ``app`` in a thread; yields its base URL (``http://127.0.0.1:PORT``).

    Raises
    ------
    RuntimeError
        If the server does not start within ``start_timeout`` seconds (its start-up failed).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP service did not start")
            time.sleep(0.01)
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
