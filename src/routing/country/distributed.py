"""Running a country's regions on Dask distributed.

:func:`dask_runner` yields a :class:`DaskRunner` (a :data:`~routing.country.plan.Runner`)
over a ``LocalCluster`` it starts (``workers`` processes, one thread each: the planner is pure
Python) or over the cluster of a ``scheduler`` address it attaches to. Each region is one task of
:func:`~routing.country.plan.plan_region` (which generates the region on its worker), submitted
largest first (so that the big regions do
not end the run alone), retried when a worker is lost; a region that fails for good fails the
run with its error, never silently. Results do not depend on the workers: every task is a pure
function of its input.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from routing.country.plan import RegionOutcome, RegionTask, plan_region
from routing.exceptions import InvalidInputError

__all__ = ["DaskRunner", "dask_runner"]

logger = logging.getLogger(__name__)


class DaskRunner:
    """A :data:`~routing.country.plan.Runner` on a Dask ``client`` (see :func:`dask_runner`)."""

    def __init__(self, client: Any, retries: int) -> None:
        self.client = client
        self.retries = retries

    def __call__(self, tasks: Sequence[RegionTask]) -> list[RegionOutcome]:
        """Plan every region on the cluster; the outcomes in the order submitted."""
        order = sorted(tasks, key=lambda t: (-t.patients, t.code))
        run_id = uuid.uuid4().hex[:8]
        # A task is small (parameters and a federal allotment; the region is generated where
        # it is planned) and travels inside the task graph, so the scheduler keeps it and a
        # region whose worker is lost is planned again elsewhere.
        futures = self._submit(order, run_id)
        outcomes: list[RegionOutcome] = self.client.gather(futures)
        logger.info("dask: %d regions planned", len(outcomes))
        return outcomes

    def _submit(self, order: Sequence[RegionTask], run_id: str) -> Any:
        return self.client.map(
            plan_region,
            order,
            key=[f"region-{t.code}-{run_id}" for t in order],
            retries=self.retries,
            pure=False,
        )


@contextmanager
def dask_runner(
    *, workers: int = 2, scheduler: str | None = None, retries: int = 3
) -> Iterator[DaskRunner]:
    """A runner on Dask (see the module docstring); the cluster it starts is closed on exit.

    Raises
    ------
    InvalidInputError
        If ``workers`` is below 1, or the ``dask`` extra is not installed.
    """
    if workers < 1:
        raise InvalidInputError("dask", "workers", "must be at least 1")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InvalidInputError(
            "dask", "workers", "needs the dask extra: pip install 'patient-routing[dask]'"
        ) from None
    quiet = logging.getLogger("distributed")
    if quiet.getEffectiveLevel() < logging.WARNING:  # its scheduler talks at INFO
        quiet.setLevel(logging.WARNING)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise InvalidInputError("dask", "scheduler", f"cannot connect: {exc}") from None
    try:
        yield DaskRunner(client, retries)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
