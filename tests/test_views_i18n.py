"""Localisation of the views: messages translated, dates and numbers by locale, package data."""

from __future__ import annotations

import re
import string
import tomllib
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

import routing.notify
import routing.views
from routing.views import html as views_html
from routing.views.i18n import Texts, texts_for

_CALL = re.compile(r'(?:gettext|\b_)\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)')
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _used_messages() -> set[str]:
    """Every message id the views' and notifications' code and the templates ask for (adjacent
    string literals joined, as Python joins them)."""
    root = Path(routing.views.__file__).parent
    notify = Path(routing.notify.__file__).parent
    found: set[str] = set()
    for path in [*root.glob("*.py"), *root.glob("templates/*.j2"), *notify.glob("*.py")]:
        for call in _CALL.findall(path.read_text(encoding="utf-8")):
            found.add("".join(_LITERAL.findall(call)))
    found.update(views_html._NAMES.values())
    found.update(views_html._UNITS.values())
    return found


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_has_a_russian_translation_with_the_same_placeholders() -> None:
    """The Russian catalogue covers every message used, with the same {placeholders}."""
    used = _used_messages()
    assert len(used) > 40
    ru = Texts("ru")
    for message in sorted(used):
        translated = ru._catalogue.get(message)
        assert translated, message
        assert _fields(translated) == _fields(message), message


def test_catalogue_has_no_unused_or_fuzzy_entries() -> None:
    """The .po holds only messages the code uses, none fuzzy or empty."""
    path = resources.files("routing.views").joinpath("locale/ru/LC_MESSAGES/views.po")
    with path.open("rb") as handle:
        catalog = read_po(handle, locale="ru")
    ids = {str(m.id) for m in catalog if m.id}
    assert ids == _used_messages()
    assert not [m for m in catalog if m.id and (m.fuzzy or not m.string)]


def test_locale_and_templates_are_package_data() -> None:
    """The catalogue and templates are read through importlib.resources (so from a wheel too)."""
    package = resources.files("routing.views")
    assert package.joinpath("locale/ru/LC_MESSAGES/views.po").is_file()
    assert package.joinpath("templates/patient.html.j2").is_file()
    assert package.joinpath("templates/doctor.html.j2").is_file()


def test_dates_weekdays_and_months_by_language() -> None:
    """Russian weekdays and genitive months; English ones; times as HH:MM in their own zone."""
    ru, en = texts_for("ru"), texts_for("en")
    assert ru.full_date(date(2026, 5, 18)) == "понедельник, 18 мая 2026\u202fг."
    assert ru.full_date(date(2026, 3, 7)) == "суббота, 7 марта 2026\u202fг."
    assert en.full_date(date(2026, 5, 18)) == "Monday, May 18, 2026"
    assert ru.long_date(date(2026, 12, 31)) == "31 декабря 2026\u202fг."
    moment = datetime(2026, 5, 18, 9, 5, tzinfo=ZoneInfo("Europe/Moscow"))
    assert ru.time(moment) == en.time(moment) == "09:05"


def test_numbers_and_durations_by_language() -> None:
    """Thousands and decimals follow the locale; durations read naturally in each language."""
    ru, en = texts_for("ru"), texts_for("en")
    assert ru.number(1234.5) == "1\xa0234,5"
    assert en.number(1234.5) == "1,234.5"
    assert ru.minutes(45) == "45 мин"
    assert ru.minutes(296) == "4 ч 56 мин"
    assert en.minutes(120) == "2 h"
    assert ru.days(1.0) == "1 дн."


def test_unknown_language_is_refused() -> None:
    """Only ru and en are offered."""
    with pytest.raises(ValueError, match="language"):
        Texts("de")  # type: ignore[arg-type]


def test_wheel_configuration_ships_the_views_data() -> None:
    """The wheel takes the whole routing package, and nothing excludes .po or .j2 files.

    (``.ci/run`` also runs every test again against the installed wheel, where the catalogue
    and templates are read from the wheel's files.)
    """
    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "src/routing" in wheel["packages"]
    assert "exclude" not in wheel
    ignored = (root / ".gitignore").read_text(encoding="utf-8").split()
    assert not [p for p in ignored if p.endswith((".po", ".j2", "locale/", "templates/"))]
    extras = config["project"]["optional-dependencies"]
    assert any(d.startswith("babel") for d in extras["views"])
    assert any(d.startswith("jinja2") for d in extras["views"])
    assert "views" in extras["all"][0]
