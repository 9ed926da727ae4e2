"""Regenerate the built-in batch example ``src/routing/examples/contended_spb.json`` (seeded).

A contended cohort for ``routing batch --example``: 30 patients referred over one working week in
a generated Saint Petersburg-like region (:func:`routing.region.generate_region`: the real
districts, real and synthetic facilities, synthetic slots), on three pathways with tight
deadlines (suspected cancer, lung cancer, suspected cardiovascular disease), over 30 working
days of slots whose specialist capacity barely exceeds the demand (``contention`` 0.85).
Planning them one by one in arrival order, first come, first served, leaves a patient without a
route and misses deadlines that the batch plan meets. Every parameter, the seed included, is
recorded in :data:`PARAMETERS`. Run from the repository root::

    python examples/make_batch_example.py            # writes the package's example file
    python examples/make_batch_example.py --check    # exit 1 if the committed file differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import MappingProxyType

from routing.problem import dump_problem
from routing.region import RegionParameters, generate_region

__all__ = ["DEFAULT_OUTPUT", "PARAMETERS", "main", "render"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "src" / "routing" / "examples" / "contended_spb.json"

PARAMETERS = RegionParameters(
    patients=30,
    days=30,
    contention=0.85,
    seed=2,
    mix=MappingProxyType({"zno_suspected": 0.4, "zno_lung": 0.2, "cvd_suspected": 0.4}),
)
"""The region and cohort of the example; ``seed`` 2 is the generating seed."""


def render() -> str:
    """The example problem as JSON text (the same text on every run)."""
    return dump_problem(generate_region(PARAMETERS))


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the example file; the exit status says how it went."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = args.output.is_file() and args.output.read_text(encoding="utf-8") == text
        print(f"{args.output}: {'up to date' if same else 'DIFFERS from the generator output'}")
        return 0 if same else 1
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
