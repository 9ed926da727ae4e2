"""Solvers: the single-patient route planner (batch planning and re-planning build on it)."""

from routing.solve.plan import SolveOptions, plan_route, prepare_index, resolve_pathway

__all__ = ["SolveOptions", "plan_route", "prepare_index", "resolve_pathway"]
