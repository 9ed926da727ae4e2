"""The manager's report over the journal: ``GET /report`` (HTML, or the figures as JSON).

Only a manager token may read it (:func:`routing.service.auth.manager`): clinicians and patient
links get 403. The page is the one ``routing report --db`` writes
(:func:`routing.manager.journal.journal_report`): self-contained, it loads nothing, and it is
served with a Content Security Policy that forbids loading anything (``default-src 'none'``) and
``Cache-Control: no-store`` (it lists pseudonymous patient ids).
"""

from __future__ import annotations

import logging
from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from routing.exceptions import InvalidInputError
from routing.manager.figures import ManagerFigures
from routing.service.auth import Caller, manager
from routing.service.deps import Context
from routing.service.errors import problem_response

__all__ = ["CONTENT_SECURITY_POLICY", "ReportFormat", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["manager"])

Manager = Annotated[Caller, Depends(manager)]

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""The page needs nothing but its inline style and SVG."""

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ReportFormat(StrEnum):
    """What ``GET /report`` answers with."""

    HTML = "html"
    JSON = "json"


@router.get(
    "/report",
    response_class=Response,
    responses={
        200: {
            "model": ManagerFigures,
            "description": "The report page (HTML), or with ``format=json`` its figures",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        503: {"description": "The report extra (matplotlib, Jinja2) is not installed"},
    },
)
def report(
    context: Context,
    _caller: Manager,
    output: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.HTML,
    patient: Annotated[str | None, Query(max_length=200)] = None,
    facility: Annotated[str | None, Query(max_length=200)] = None,
    day: Annotated[date | None, Query()] = None,
) -> Response:
    """The manager's report over the journal: compliance, completion, utilisation,
    bottlenecks, Gantts of a patient's route (``patient``, default the most delayed) and of a
    facility's day (``facility``, ``day``, default the busiest), and the trend per day."""
    try:
        built = context.report(patient=patient, facility=facility, day=day)
    except InvalidInputError as exc:  # the choice is a query parameter here, not an option
        raise InvalidInputError(exc.record, exc.field.lstrip("-"), exc.reason) from None
    figures = built.figures
    if output is ReportFormat.JSON:
        return JSONResponse(figures.model_dump(mode="json"), headers=_HEADERS)
    try:
        from routing.manager.charts import build_charts
        from routing.manager.html import render_html

        page = render_html(figures, build_charts(figures))
    except ImportError:
        logger.error("the report extra is not installed")
        return problem_response(
            503, "the report needs the report extra: pip install 'patient-routing[report]'"
        )
    headers = {**_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
