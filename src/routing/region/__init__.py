"""A seeded Saint Petersburg-like region: facilities, slot calendars and a cohort of requests.

For benchmarks and demonstrations of batch planning. The 18 districts are the real ones of the
city appointment portal; the facilities are real where the recorded portal data has them (one
district) and synthetic elsewhere (ids ``syn-…``, approximate places). Capacity is scaled to the
cohort's demand by ``contention`` (see :mod:`routing.region.capacity`).

Examples
--------
>>> from routing.region import RegionParameters, generate_region
>>> problem = generate_region(RegionParameters(patients=10, days=12, contention=1.5, seed=7))
>>> len(problem.requests)
10
"""

from routing.region.capacity import PRIMARY_SLACK, service_demand
from routing.region.generate import (
    DEFAULT_MIX,
    TIMEZONE,
    RegionParameters,
    generate_region,
    working_days,
)
from routing.region.geography import SYNTHETIC_PREFIX, District, FacilityKind, region_data

__all__ = [
    "DEFAULT_MIX",
    "PRIMARY_SLACK",
    "SYNTHETIC_PREFIX",
    "TIMEZONE",
    "District",
    "FacilityKind",
    "RegionParameters",
    "generate_region",
    "region_data",
    "service_demand",
    "working_days",
]
