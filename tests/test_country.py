"""A synthetic country-day planned by region: the generator, the federal allotment, and Dask
(a real LocalCluster of two worker processes; one killed mid-run)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from routing.cli import main
from routing.country import (
    Country,
    CountryParameters,
    allot_federal,
    generate_country,
    plan_country,
)
from routing.country.distributed import dask_runner
from routing.country.population import POPULATION_THOUSANDS
from routing.exceptions import InvalidInputError

SMALL = ("RU-KLU", "RU-MOW", "RU-NEN", "RU-SPE", "RU-TA")


@cache
def _country() -> Country:
    return generate_country(CountryParameters(referrals=240, regions=SMALL, seed=2, contention=0.6))


def test_the_generator_is_seeded_and_shares_referrals_by_population() -> None:
    """Same parameters, same country; Moscow gets the most referrals, every region one at
    least; ids carry the region's code; requests and facilities stand in their region."""
    again = generate_country(
        CountryParameters(referrals=240, regions=SMALL, seed=2, contention=0.6)
    )
    country = _country()
    assert country.referrals == 240
    assert again.sizes == country.sizes
    assert again.region("RU-TA") == country.region("RU-TA")
    sizes = country.sizes
    assert max(sizes, key=sizes.__getitem__) == "RU-MOW"
    assert min(sizes.values()) >= 1
    for code in country.codes:
        problem = country.region(code)
        assert len(problem.requests) == sizes[code]
        assert all(f.region == code and f.id.startswith(f"{code}:") for f in problem.facilities)
        assert all(r.region == code and r.id.startswith(f"{code}:") for r in problem.requests)
    with pytest.raises(InvalidInputError) as info:
        country.region("RU-SAK")  # a subject, but not of this country
    assert info.value.field == "regions"
    assert len(POPULATION_THOUSANDS) == 85


def test_federal_places_are_given_once_in_proportion_to_demand() -> None:
    """Every federal slot goes to exactly one region, the bigger regions getting more."""
    country = _country()
    allotted = allot_federal(country)
    given = Counter(s.id for slots in allotted.values() for s in slots)
    assert set(given) == {s.id for s in country.federal.slots}
    assert set(given.values()) == {1}
    counts = {c: len(s) for c, s in allotted.items()}
    assert counts["RU-MOW"] >= counts["RU-SPE"] >= counts["RU-NEN"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"regions": ("RU-SPE", "RU-ZZZ")}, "regions"),
        ({"referrals": 1}, "referrals"),
        ({"consent_share": 1.5}, "consent_share"),
    ],
)
def test_bad_parameters_name_the_field(changes: dict[str, object], field: str) -> None:
    """An unknown region, too few referrals, a share outside [0, 1]: the field named."""
    base: dict[str, object] = {"referrals": 100, "regions": SMALL}
    with pytest.raises(InvalidInputError) as info:
        CountryParameters(**(base | changes))  # type: ignore[arg-type]
    assert info.value.field == field


def test_dask_gives_the_same_plans_as_one_process_even_when_a_worker_dies() -> None:
    """Two worker processes plan the regions; one is killed while they work: the lost regions
    are planned again on the other, no region is missing, and every plan is byte for byte the
    one this process makes."""
    country = _country()
    here = plan_country(country, seed=1, work_per_patient=4)
    with dask_runner(workers=2) as runner:
        killed: list[str] = []
        first = set(runner.client.scheduler_info()["workers"])

        def kill_one() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = [w for w, keys in runner.client.processing().items() if keys]
                if busy:
                    killed.append(busy[0])
                    with contextlib.suppress(Exception):  # the worker dies mid-call
                        runner.client.run(os._exit, 1, workers=[busy[0]])
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one)
        killer.start()
        there = plan_country(country, seed=1, work_per_patient=4, runner=runner)
        killer.join()
        later = set(runner.client.scheduler_info()["workers"])
    assert killed
    assert killed[0] not in later  # that worker is gone (its nanny started a new one)
    assert first != later
    assert [o.code for o in there.outcomes] == sorted(SMALL)
    assert there.key() == here.key()
    assert there.totals() == here.totals()


def test_routing_country_writes_the_same_file_in_process_and_on_dask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command: country.json is the same in this process and on a LocalCluster."""
    common = ["country", "--referrals", "120", "--regions", "RU-SPE,RU-TA,RU-KLU", "--seed", "3"]
    assert main([*common, "--in-process", "-o", str(tmp_path / "a"), "--json"]) == 0
    totals = json.loads(capsys.readouterr().out)
    assert totals["patients"] == 120
    assert main([*common, "--workers", "2", "-o", str(tmp_path / "b"), "-q"]) == 0
    a = (tmp_path / "a" / "country.json").read_text(encoding="utf-8")
    b = (tmp_path / "b" / "country.json").read_text(encoding="utf-8")
    assert a == b
    assert main([*common, "--regions", "RU-ZZZ", "-o", str(tmp_path / "c")]) == 2
    assert "regions" in capsys.readouterr().err


def test_a_second_round_gives_unused_federal_places_to_regions_short_of_them() -> None:
    """Scarce federal places: the regions that used all they were given and still miss get the
    places others left unused; no place is used by two regions, no region ends worse than its
    first plan, and a region not planned again keeps its first plan byte for byte."""
    country = generate_country(
        CountryParameters(referrals=240, regions=SMALL, seed=2, contention=0.6, federal_share=0.01)
    )
    first = plan_country(country, seed=1, work_per_patient=4, second_round=False)
    both = plan_country(country, seed=1, work_per_patient=4)
    short = {o.code for o in first.outcomes if o.federal_short and o.need > 0}
    assert short
    assert both.replanned == len(short)
    assert both.reoffered > 0
    used = Counter(s for o in both.outcomes for s in o.federal_used_slots)
    assert set(used.values()) <= {1}
    assert set(used) <= {s.id for s in country.federal.slots}
    for before, after in zip(first.outcomes, both.outcomes, strict=True):
        assert after.rank() <= before.rank()
        assert after.country_must_miss <= after.must_miss  # every federal place open: weaker
        if before.code not in short:
            assert after.plan_sha256 == before.plan_sha256
    assert both.totals()["federal_places"] == sum(s.capacity for s in country.federal.slots)
