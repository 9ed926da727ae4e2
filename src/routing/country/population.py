"""Population of Russia's federal subjects, for the shares of a synthetic country-day.

Thousands of residents, rounded, after Rosstat's estimates of the resident population at the
start of 2024 as the authors recall them: good to about ±5 %, which is what a synthetic
country's shares need, and not a statistic to quote. The keys are the codes of
:data:`routing.domain.regions.REGIONS` (85 subjects; about 146 million in all).
"""

from __future__ import annotations

__all__ = ["POPULATION_THOUSANDS"]

POPULATION_THOUSANDS: dict[str, int] = {
    "RU-MOW": 13150, "RU-MOS": 8590, "RU-KDA": 5840, "RU-SPE": 5600, "RU-SVE": 4240,
    "RU-ROS": 4150, "RU-BA": 4060, "RU-TA": 4000, "RU-CHE": 3410, "RU-DA": 3210,
    "RU-NIZ": 3080, "RU-SAM": 3140, "RU-STA": 2880, "RU-KYA": 2840, "RU-NVS": 2790,
    "RU-KEM": 2570, "RU-PER": 2510, "RU-VGG": 2450, "RU-SAR": 2390, "RU-IRK": 2340,
    "RU-VOR": 2280, "RU-ALT": 2130, "RU-LEN": 2030, "RU-CR": 1910, "RU-ORE": 1840,
    "RU-OMS": 1830, "RU-PRI": 1820, "RU-KHM": 1730, "RU-TYU": 1610, "RU-CE": 1540,
    "RU-BEL": 1530, "RU-TUL": 1500, "RU-UD": 1440, "RU-KHA": 1280, "RU-VLA": 1330,
    "RU-KIR": 1140, "RU-PNZ": 1250, "RU-TVE": 1230, "RU-YAR": 1190, "RU-CU": 1180,
    "RU-ULY": 1190, "RU-BRY": 1150, "RU-LIP": 1130, "RU-VLG": 1130, "RU-KRS": 1080,
    "RU-RYA": 1090, "RU-KGD": 1030, "RU-TOM": 1060, "RU-ZAB": 990, "RU-SA": 1000,
    "RU-ARK": 960, "RU-BU": 980, "RU-KLU": 1000, "RU-AST": 950, "RU-TAM": 960,
    "RU-SMO": 880, "RU-KB": 900, "RU-IVA": 910, "RU-KGN": 800, "RU-AMU": 760,
    "RU-MO": 770, "RU-ORL": 710, "RU-KO": 720, "RU-SE": 680, "RU-ME": 670,
    "RU-MUR": 660, "RU-NGR": 580, "RU-PSK": 590, "RU-KOS": 580, "RU-SEV": 560,
    "RU-KK": 530, "RU-KR": 530, "RU-YAN": 510, "RU-IN": 520, "RU-AD": 500,
    "RU-KC": 470, "RU-SAK": 460, "RU-TY": 340, "RU-KAM": 290, "RU-KL": 260,
    "RU-AL": 210, "RU-YEV": 150, "RU-MAG": 130, "RU-CHU": 50, "RU-NEN": 40,
}  # fmt: skip
