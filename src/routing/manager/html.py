"""The manager's report as one self-contained HTML file (inline SVG charts, inline style).

The page is :file:`templates/manager.html.j2` filled by Jinja2 with autoescaping on: every value
from the input (ids, district names, rejected records) is escaped; only the charts' SVG, which
matplotlib wrote and escaped itself, is inserted as markup. The page loads nothing: no script, no
font, no image from anywhere, so it opens without a network. The same figures give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from routing.manager.charts import Chart
from routing.manager.figures import ManagerFigures
from routing.manager.tables import AT_RISK_SLACK

__all__ = ["TEMPLATE", "render_html"]

TEMPLATE = Path(__file__).parent / "templates" / "manager.html.j2"
"""The page's template."""


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def render_html(
    figures: ManagerFigures, charts: Sequence[Chart], *, at_risk_slack: int = AT_RISK_SLACK
) -> str:
    """The report page of ``figures`` with ``charts`` (from :func:`.charts.build_charts`).

    Parameters
    ----------
    figures
        The aggregates.
    charts
        The charts, in the order shown.
    at_risk_slack
        The slack that counted as at risk (said on the page).

    Returns
    -------
    str
        The whole HTML document.
    """
    import jinja2  # the ``report`` extra

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    template = environment.get_template(TEMPLATE.name)
    compliance = [
        ("By pathway", figures.by_pathway),
        ("By deadline", figures.by_deadline),
        ("By home district", figures.by_district),
        ("By facility where the route ends", figures.by_facility),
    ]
    return template.render(
        figures=figures,
        charts=charts,
        compliance=compliance,
        at_risk_slack=at_risk_slack,
        days=_days,
    )
