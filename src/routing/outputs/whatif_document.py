"""The JSON document of ``routing whatif --json`` (its schema: ``routing schema --of whatif``).

One document for both directions: ``mode`` is ``add`` (slots proposed, and with verification
the four re-plans side by side) or ``withdraw`` (slots that can go with the least harm, and the
plan before and after). Only ids, services, times and counts go into it: no patient data.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import NonNegativeInt

from nosology.pathway import FrozenModel
from routing.batch.whatif.model import (
    Addition,
    CapacityProposal,
    WhatIfComparison,
    WithdrawalCheck,
    WithdrawalProposal,
)

__all__ = ["ProposedAdditions", "WhatIfDocument", "proposed_additions"]


class ProposedAdditions(FrozenModel):
    """A :class:`~routing.batch.whatif.CapacityProposal` without its pool's slot ids.

    The pool (every slot an addition may copy, thousands in a large region) is summarised by
    its size; :func:`~routing.batch.whatif.propose_additions` returns it in full.
    """

    additions: tuple[Addition, ...]
    """In the order chosen (the largest improvement of the first-deadline bound first)."""
    bound_before: NonNegativeInt
    """Patients who miss their first deadline in every plan that routes them all, before."""
    bound_after: NonNegativeInt
    """The same bound with every addition."""
    patients_with_deadline: NonNegativeInt
    requested: NonNegativeInt
    """Slots the budget allowed (or candidates given, at most ``--budget``)."""
    pool_size: NonNegativeInt
    """Slots an addition (and the baselines) could copy."""
    repeat: bool
    """Whether a slot of the pool may be copied more than once (a budget) or not (candidates)."""
    days: tuple[date, ...]
    """The window's working days (or the candidates' days)."""
    note: str
    """Why fewer slots than requested were proposed, if so."""


def proposed_additions(proposal: CapacityProposal) -> ProposedAdditions:
    """The document's view of ``proposal``."""
    return ProposedAdditions(
        additions=proposal.additions,
        bound_before=proposal.bound_before,
        bound_after=proposal.bound_after,
        patients_with_deadline=proposal.patients_with_deadline,
        requested=proposal.requested,
        pool_size=len(proposal.pool),
        repeat=proposal.repeat,
        days=proposal.days,
        note=proposal.note,
    )


class WhatIfDocument(FrozenModel):
    """What ``routing whatif --json`` prints."""

    generator: str
    """The program and its version."""
    exit_status: int
    """0, or 1 when some records of the sources were left out (each in ``rejected``)."""
    mode: Literal["add", "withdraw"]
    requests: NonNegativeInt
    """Requests of the cohort."""
    rejected: tuple[str, ...]
    """Records of the sources left out, each with its record, field and reason."""
    proposal: ProposedAdditions | None = None
    """``add``: the slots proposed."""
    comparison: WhatIfComparison | None = None
    """``add`` with verification: before, proposed, random and longest queue, re-planned."""
    ratio_to_random: float | None = None
    """The proposal's reduction of patients missing a deadline ÷ the random one's (``None``
    when random reduced none, or without verification)."""
    withdrawals: WithdrawalProposal | None = None
    """``withdraw``: the slots ranked by least harm."""
    withdrawal_check: WithdrawalCheck | None = None
    """``withdraw`` with verification: the plan before and without the slots."""
