"""The pathway catalogue and code resolution."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from nosology.pathway import Pathway
from nosology.resolve import Resolution, resolve_code
from routing.service.auth import clinician
from routing.service.deps import Context
from routing.service.errors import NotFoundError

__all__ = ["router"]

router = APIRouter(tags=["catalogue"], dependencies=[Depends(clinician)])


@router.get("/pathways", response_model=list[Pathway])
def pathways(context: Context) -> list[Pathway]:
    """Every pathway: the problem files' own first, then the catalogue's, by id."""
    found = dict(context.pathways)
    for pathway in context.catalogue:
        found.setdefault(pathway.id, pathway)
    return sorted(found.values(), key=lambda p: p.id)


@router.get("/pathways/{pathway_id}", response_model=Pathway)
def pathway(pathway_id: str, context: Context) -> Pathway:
    """One pathway by id."""
    if pathway_id in context.pathways:
        return context.pathways[pathway_id]
    if pathway_id not in {p.id for p in context.catalogue}:
        raise NotFoundError(f"pathway {pathway_id!r}")
    return context.catalogue.get(pathway_id)


@router.get("/codes/{code}/resolve", response_model=Resolution)
def resolve(code: str, context: Context) -> Resolution:
    """The pathway one diagnosis code resolves to, and why."""
    return resolve_code(code, context.catalogue)
