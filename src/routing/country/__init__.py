"""Country scale: a synthetic country-day of 85 regions and federal centres, planned by region.

:func:`generate_country` makes the country (:mod:`routing.country.generate`),
:func:`plan_country` shares out the federal capacity and plans every region
(:mod:`routing.country.plan`), in this process or on Dask
(:func:`routing.country.distributed.dask_runner`, the ``dask`` extra).
"""

from routing.country.generate import Country, CountryParameters, generate_country
from routing.country.plan import (
    CountryResult,
    RegionOutcome,
    RegionTask,
    allot_federal,
    plan_country,
    plan_region,
    region_tasks,
)

__all__ = [
    "Country",
    "CountryParameters",
    "CountryResult",
    "RegionOutcome",
    "RegionTask",
    "allot_federal",
    "generate_country",
    "plan_country",
    "plan_region",
    "region_tasks",
]
