"""Phase 2's descent by whole days: which re-searches it runs, and that it changes no result."""

from __future__ import annotations

from unittest.mock import patch

from benchmarks.instances import make_instance

from routing.slot_index import SlotIndex
from routing.solve import search as search_module
from routing.solve.bnb import polish
from routing.solve.compiled import compile_request
from routing.solve.plan import resolve_pathway


def test_the_descent_fixes_at_least_a_third_of_the_stages_and_keeps_the_optimum() -> None:
    """Forced after 2 nodes on the 8-stage requests of a small instance, every re-search of the
    descent keeps at least a third of the stages at their slots (freeing more is nearly the
    whole search again; without that rule 5 of these requests' re-searches would), some
    re-search runs, and each request's proven optimum is the one found without any descent."""
    instance = make_instance("small", 3)
    index = SlotIndex.build(instance.facilities, instance.slots)
    compiled = []
    for request in instance.requests:
        pathway = resolve_pathway(request, pathways=instance.pathways)
        if len(pathway.stages) == 8:
            compiled.append((request, pathway))
    assert len(compiled) >= 3
    fixed_counts: list[tuple[int, int]] = []
    original = polish.Polish._search_with_fixed

    def recording(self: polish.Polish, route: list[int], free: list[int]) -> None:
        fixed_counts.append((self.k - len(free), self.k))
        original(self, route, free)

    for request, pathway in compiled:
        with (
            patch.object(search_module, "DESCENT_AFTER", 2),
            patch.object(polish.Polish, "_search_with_fixed", recording),
        ):
            forced = search_module.search(compile_request(request, pathway, index))
        with patch.object(polish.Polish, "improve_by_days", lambda self: None):
            plain = search_module.search(compile_request(request, pathway, index))
        assert forced.proven
        assert plain.proven
        assert forced.key == plain.key
    assert fixed_counts
    assert all(3 * fixed >= k for fixed, k in fixed_counts)
