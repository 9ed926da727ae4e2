"""The exceptions of the nosology package, one hierarchy that callers can catch by meaning.

Every error that bad input causes is a :class:`ValueError` subclass whose message names the record
and the field and says what was expected. Messages never carry patient data.
"""

from __future__ import annotations

__all__ = [
    "CatalogueError",
    "InconsistentPathwayError",
    "InvalidCodeError",
    "MergeConflictError",
    "NosologyError",
    "UnknownPathwayError",
]


class NosologyError(Exception):
    """Base class of every error raised by :mod:`nosology`."""


class InvalidCodeError(NosologyError, ValueError):
    """A diagnosis code that is malformed or not in the МКБ-10 registry.

    Parameters
    ----------
    raw
        The input exactly as given.
    reason
        Why it was rejected, in words a coordinator understands.
    """

    def __init__(self, raw: str, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"invalid diagnosis code {raw!r}: {reason}")


class CatalogueError(NosologyError, ValueError):
    """A pathway file that cannot be used: unreadable, malformed or failing validation.

    Parameters
    ----------
    path
        The file (or another origin label) the error was found in.
    field
        The offending field as a dotted location (``stages.2.services``), or ``""``.
    reason
        What is wrong and what was expected.
    """

    def __init__(self, path: str, field: str, reason: str) -> None:
        self.path = path
        self.field = field
        self.reason = reason
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {reason}")


class UnknownPathwayError(NosologyError, KeyError):
    """A pathway id that the catalogue does not hold, or codes no pathway applies to."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown pathway"


class InconsistentPathwayError(NosologyError, ValueError):
    """A pathway whose temporal constraints contradict each other (a negative cycle).

    Parameters
    ----------
    pathway_id
        The pathway.
    stages
        The stages on the contradictory cycle, in cycle order.
    detail
        A human-readable account of the cycle.
    """

    def __init__(self, pathway_id: str, stages: list[str], detail: str) -> None:
        self.pathway_id = pathway_id
        self.stages = stages
        self.detail = detail
        super().__init__(
            f"pathway {pathway_id!r}: contradictory temporal constraints between stages "
            f"{', '.join(stages)}: {detail}"
        )


class MergeConflictError(NosologyError, ValueError):
    """Two pathways that cannot be merged into one without dropping or contradicting a rule."""

    def __init__(self, pathway_ids: list[str], reason: str) -> None:
        self.pathway_ids = pathway_ids
        self.reason = reason
        super().__init__(f"cannot merge pathways {', '.join(pathway_ids)}: {reason}")
