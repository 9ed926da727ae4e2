"""The regions a request or a facility may name: Russia's federal subjects by ISO 3166-2 code.

:data:`REGIONS` holds the 83 subdivision codes ISO 3166-2:RU lists, and ``RU-CR`` and
``RU-SEV``, the codes Russian federal statistics use for the two further subjects it counts (85
in all, the count of the country's own list at the time this table was made); ``"RU"`` stands
for the country as a whole (federal rules). A code outside them is an error, not a region
without facilities.
"""

from __future__ import annotations

__all__ = ["COUNTRY", "REGIONS", "is_known_region"]

COUNTRY = "RU"
"""The country-wide code (federal rules and facilities)."""

REGIONS: frozenset[str] = frozenset(
    f"RU-{code}"
    for code in [
        "AD",
        "AL",
        "ALT",
        "AMU",
        "ARK",
        "AST",
        "BA",
        "BEL",
        "BRY",
        "BU",
        "CE",
        "CHE",
        "CHU",
        "CU",
        "DA",
        "IN",
        "IRK",
        "IVA",
        "KAM",
        "KB",
        "KC",
        "KDA",
        "KEM",
        "KGD",
        "KGN",
        "KHA",
        "KHM",
        "KIR",
        "KK",
        "KL",
        "KLU",
        "KO",
        "KOS",
        "KR",
        "KRS",
        "KYA",
        "LEN",
        "LIP",
        "MAG",
        "ME",
        "MO",
        "MOS",
        "MOW",
        "MUR",
        "NEN",
        "NGR",
        "NIZ",
        "NVS",
        "OMS",
        "ORE",
        "ORL",
        "PER",
        "PNZ",
        "PRI",
        "PSK",
        "ROS",
        "RYA",
        "SA",
        "SAK",
        "SAM",
        "SAR",
        "SE",
        "SMO",
        "SPE",
        "STA",
        "SVE",
        "TA",
        "TAM",
        "TOM",
        "TUL",
        "TVE",
        "TY",
        "TYU",
        "UD",
        "ULY",
        "VGG",
        "VLA",
        "VLG",
        "VOR",
        "YAN",
        "YAR",
        "YEV",
        "ZAB",
        "CR",
        "SEV",
    ]
)
"""The 85 federal subjects' codes (see the module docstring)."""


def is_known_region(code: str) -> bool:
    """Whether ``code`` is :data:`COUNTRY` or one of :data:`REGIONS`.

    Examples
    --------
    >>> is_known_region("RU-SPE"), is_known_region("RU"), is_known_region("RU-XXX")
    (True, True, False)
    """
    return code == COUNTRY or code in REGIONS
