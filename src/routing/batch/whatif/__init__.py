"""What-if capacity: where added slots help most, which slots can go, checked by re-planning.

The structure is the first-deadline bound of :mod:`routing.batch.matching` (how many patients
miss their first deadline in every plan that routes them all), solved as a flow whose minimum
cut names the groups of slots where capacity binds (:mod:`.flow`).

* :func:`propose_additions`: a budget (``CapacityBudget(slots=10, working_days=10)``) or a list
  of :class:`CandidateSlot` → a :class:`CapacityProposal`, the additions ranked greedily by the
  bound's improvement per added slot (:mod:`.propose`);
* :func:`verify`: each proposal re-planned by :func:`~routing.batch.plan_batch`, beside the same
  number of slots added at random and to the services with the longest queues (:mod:`.verify`);
* :func:`rank_withdrawals` and :func:`verify_withdrawals`: the reverse (:mod:`.withdraw`).

New slots are copies of existing ones on resources of their own (:mod:`.candidates`).
"""

from routing.batch.whatif.candidates import WhatIfInputs, copy_slot
from routing.batch.whatif.flow import FirstDeadlineNetwork, FlowSolution
from routing.batch.whatif.model import (
    Addition,
    CandidateSlot,
    CapacityBudget,
    CapacityProposal,
    PlanFigures,
    WhatIfComparison,
    Withdrawal,
    WithdrawalCheck,
    WithdrawalProposal,
)
from routing.batch.whatif.propose import propose_additions
from routing.batch.whatif.verify import (
    ReplanOptions,
    longest_queue_additions,
    random_additions,
    replan,
    verify,
    verify_withdrawals,
)
from routing.batch.whatif.withdraw import rank_withdrawals

__all__ = [
    "Addition",
    "CandidateSlot",
    "CapacityBudget",
    "CapacityProposal",
    "FirstDeadlineNetwork",
    "FlowSolution",
    "PlanFigures",
    "ReplanOptions",
    "WhatIfComparison",
    "WhatIfInputs",
    "Withdrawal",
    "WithdrawalCheck",
    "WithdrawalProposal",
    "copy_slot",
    "longest_queue_additions",
    "propose_additions",
    "random_additions",
    "rank_withdrawals",
    "replan",
    "verify",
    "verify_withdrawals",
]
