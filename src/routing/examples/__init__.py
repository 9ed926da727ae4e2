"""Example problems shipped with the package (read through :mod:`importlib.resources`).

``lung_spb``: suspected lung cancer (МКБ-10 C34.x) for three pseudonymous patients in Saint
Petersburg, referred in the first week of March 2026. Facilities of level 1 and the ЦАОП of the
War Veterans' Hospital are the city appointment portal's own records (ids ``gorzdrav-<lpu id>``);
facilities with ids starting ``synthetic-`` are made up, and so is every slot. The file is
generated, seeded, by ``examples/make_lung_example.py`` in the source repository. ``routing plan
--example`` plans it.

``contended_spb``: the batch example (``routing batch --example``): 30 patients on three
pathways with tight deadlines in a generated Saint Petersburg-like region whose specialist slots
barely exceed the demand, so that planning them together beats first come, first served.
Generated, seeded, by ``examples/make_batch_example.py`` from
:func:`routing.region.generate_region`.
"""

from __future__ import annotations

from importlib import resources

from routing.problem import Problem, load_problem

__all__ = ["BATCH_EXAMPLE", "EXAMPLES", "example_text", "load_example"]

EXAMPLES = ("lung_spb", "contended_spb")
"""The names of the shipped examples."""
BATCH_EXAMPLE = "contended_spb"
"""The example ``routing batch --example`` plans."""


def example_text(name: str = "lung_spb") -> str:
    """The JSON text of a shipped example problem.

    Raises
    ------
    ValueError
        If there is no example of that name (the message lists the known ones).
    """
    if name not in EXAMPLES:
        raise ValueError(f"no example {name!r}; known examples: {', '.join(EXAMPLES)}")
    return resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")


def load_example(name: str = "lung_spb") -> Problem:
    """A shipped example problem, loaded and validated.

    Examples
    --------
    >>> problem = load_example()
    >>> [r.id for r in problem.requests]
    ['R-0001', 'R-0002', 'R-0003']
    """
    return load_problem(example_text(name))
