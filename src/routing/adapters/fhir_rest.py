"""A FHIR server read over REST: free slots of a window, following the search's pages.

The search is ``GET <base>/Slot?start=ge<start>&start=lt<end>&status=free&_include=Slot:schedule``
(with ``_include:iterate`` for the Schedule's actors and their locations when the server's
CapabilityStatement lists those includes, or when told to). The pages
(``Bundle.link[relation=next]``) are followed up to a page and a slot limit; their entries are
merged (a resource included on several pages counts once) and read by
:func:`routing.adapters.fhir.parse_bundle`.

Requests go through the shared HTTP layer (:class:`routing.adapters.http.HttpClient`, one
connection pool per source): a deadline per request, retries of timeouts, connection failures,
HTTP 429 and 5xx with jittered backoff and the server's ``Retry-After``, redirects that never carry
the ``headers`` (credentials) to another origin and never go from https to http, and TLS errors
that fail at once.

A failure never raises: an unreachable server, a timeout, an HTTP error, a TLS error, a page that
is not JSON or a limit reached becomes a :class:`SourceIssue` (``retryable`` for network errors,
timeouts, HTTP 429 and 5xx), and the pages read before it are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode, urljoin, urlsplit

from nosology.pathway import ServiceRef
from routing.adapters.fhir import FhirOptions, parse_bundle
from routing.adapters.http import HttpClient, HttpError, HttpPolicy
from routing.adapters.source import SlotBatch, SourceIssue, check_window
from routing.exceptions import InvalidInputError, InvalidProblemError

__all__ = ["ACTOR_INCLUDES", "FhirRestSource"]

logger = logging.getLogger(__name__)

ACTOR_INCLUDES = (
    "Schedule:actor",
    "HealthcareService:location",
    "PractitionerRole:location",
)
"""The ``_include:iterate`` values asked for when the server supports them."""

_ACCEPT = "application/fhir+json, application/json;q=0.9"


class _PageError(Exception):
    """A page that could not be read; carries the issue to report."""

    def __init__(self, issue: SourceIssue) -> None:
        super().__init__(issue.reason)
        self.issue = issue


@dataclass(frozen=True)
class FhirRestSource:
    """A FHIR server's Slot search as a :class:`~routing.adapters.source.SlotSource`.

    Attributes
    ----------
    base_url
        The server's base, e.g. ``"https://fhir.example.org/R5"`` (http or https).
    options
        How the bundles are read (version, zone, levels, coding systems).
    name
        The name issues carry (default ``"fhir-rest:<host>"``).
    timeout
        Seconds each request may take at most, retries and waits included (its deadline), and
        each socket operation at most; used when ``policy`` is not given.
    page_size
        ``_count`` asked of the server, or ``None`` for its default.
    max_pages
        Pages read at most; more is reported as an issue.
    max_slots
        Slot entries read at most; more is reported as an issue.
    max_page_bytes
        A page larger than this is an issue.
    include_actors
        Ask for the Schedule's actors with ``_include:iterate``: ``True``, ``False``, or ``None``
        to ask the server's CapabilityStatement (``GET <base>/metadata``).
    headers
        Extra request headers (e.g. authorisation): never logged, never sent to another origin on
        a redirect.
    policy
        The HTTP policy (timeouts, deadline, retries, redirects, TLS); by default
        ``HttpPolicy(timeout_s=timeout, deadline_s=timeout)``. Its ``max_body_bytes`` is
        ``max_page_bytes``.

    The source holds one connection pool: :meth:`close` it, or use it in a ``with`` block.
    """

    base_url: str
    options: FhirOptions = field(default_factory=FhirOptions)
    name: str = ""
    timeout: float = 30.0
    page_size: int | None = 200
    max_pages: int = 100
    max_slots: int = 200_000
    max_page_bytes: int = 64 * 1024 * 1024
    include_actors: bool | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    policy: HttpPolicy | None = None
    _http: HttpClient = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInputError("FhirRestSource", "base_url", "expected an http(s) URL")
        if self.timeout <= 0 or self.max_pages < 1 or self.max_slots < 1:
            raise InvalidInputError(
                "FhirRestSource", "timeout", "timeout and limits must be positive"
            )
        if self.page_size is not None and self.page_size < 1:
            raise InvalidInputError("FhirRestSource", "page_size", "must be positive")
        if not self.name:
            object.__setattr__(self, "name", f"fhir-rest:{parts.hostname}")
        policy = self.policy or HttpPolicy(timeout_s=self.timeout, deadline_s=self.timeout)
        policy = policy.model_copy(update={"max_body_bytes": self.max_page_bytes})
        http = HttpClient(
            policy, name=self.name, headers={"Accept": _ACCEPT}, credentials=self.headers
        )
        object.__setattr__(self, "_http", http)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def search_url(self, start: datetime, end: datetime, include_actors: bool) -> str:
        """The URL of the first page of the Slot search for ``[start, end)``."""
        query: list[tuple[str, str]] = [
            ("start", "ge" + start.isoformat()),
            ("start", "lt" + end.isoformat()),
            ("status", "free"),
            ("_include", "Slot:schedule"),
        ]
        if include_actors:
            query += [("_include:iterate", value) for value in ACTOR_INCLUDES]
        if self.page_size is not None:
            query.append(("_count", str(self.page_size)))
        return f"{self.base_url.rstrip('/')}/Slot?{urlencode(query)}"

    def fetch(
        self,
        start: datetime,
        end: datetime,
        services: Collection[ServiceRef] | None = None,
    ) -> SlotBatch:
        """The free slots starting in ``[start, end)``, read page by page."""
        check_window(start, end, record=self.name)
        issues: list[SourceIssue] = []
        include, declared = self.include_actors, None
        if include is None:
            include, declared = self._capabilities()
        entries, page_issues = self._read_pages(self.search_url(start, end, include))
        issues.extend(page_issues)
        document = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        lenient = replace(self.options, strict=False)
        read = parse_bundle(
            document,
            lenient,
            source=self.name,
            start=start,
            end=end,
            services=services,
            declared_version=declared,
        )
        batch = read.batch
        issues.extend(batch.issues)
        if self.options.strict and issues:
            raise InvalidProblemError([issue.to_error() for issue in issues])
        return batch.model_copy(update={"issues": tuple(issues)})

    def _capabilities(self) -> tuple[bool, str | None]:
        """From the CapabilityStatement: whether it lists the actor includes, and its fhirVersion.

        ``(False, None)`` when it cannot be read; the version is handed to
        :func:`~routing.adapters.fhir.parse_bundle` as the one the server declared.
        """
        try:
            statement = self._get(f"{self.base_url.rstrip('/')}/metadata", "metadata")
        except _PageError as error:
            logger.info("%s: no CapabilityStatement (%s)", self.name, error.issue.reason)
            return False, None
        version = statement.get("fhirVersion") if isinstance(statement, Mapping) else None
        declared = version if isinstance(version, str) and version else None
        offered: set[str] = set()
        rest = statement.get("rest") if isinstance(statement, Mapping) else None
        for server in rest if isinstance(rest, list) else ():
            resources = server.get("resource") if isinstance(server, Mapping) else None
            for resource in resources if isinstance(resources, list) else ():
                if isinstance(resource, Mapping) and isinstance(
                    resource.get("searchInclude"), list
                ):
                    offered.update(str(v) for v in resource["searchInclude"])
        return "Schedule:actor" in offered, declared

    def _read_pages(self, url: str) -> tuple[list[Any], list[SourceIssue]]:
        """Every entry of every page (duplicates across pages once), and the issues met."""
        entries: list[Any] = []
        seen: dict[str, Any] = {}
        issues: list[SourceIssue] = []
        slots = 0
        origin = urlsplit(self.base_url)[:2]
        next_url: str | None = url
        page = 0
        while next_url is not None:
            if page == self.max_pages:
                issues.append(self._issue("search", f"stopped after {page} pages; more exist"))
                break
            page += 1
            try:
                bundle = self._get(next_url, f"page {page}")
            except _PageError as error:
                issues.append(error.issue)
                break
            page_entries = bundle.get("entry", []) if isinstance(bundle, Mapping) else None
            if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
                issues.append(self._issue(f"page {page}", "not a FHIR Bundle"))
                break
            if not isinstance(page_entries, list):
                issues.append(self._issue(f"page {page}", "Bundle.entry is not a list"))
                break
            for entry in page_entries:
                issues.extend(self._outcome_issues(entry, page))
                key = _entry_key(entry)
                if key is not None and seen.get(key) == entry:
                    continue  # the same resource included again on a later page
                if key is not None:
                    seen.setdefault(key, entry)
                slots += _is_slot(entry)
                entries.append(entry)
            if slots >= self.max_slots:
                issues.append(self._issue("search", f"stopped at {slots} slots (max_slots)"))
                break
            next_url = _next_link(bundle, next_url)
            if next_url is not None and urlsplit(next_url)[:2] != origin:
                issues.append(self._issue(f"page {page}", "the next link leaves the server"))
                break
        logger.debug("%s: %d pages, %d entries", self.name, page, len(entries))
        return entries, issues

    def _get(self, url: str, record: str) -> Any:
        """GET ``url`` and parse its JSON; :class:`_PageError` with the issue on any failure."""
        try:
            return self._http.get_json(url, endpoint=record)
        except HttpError as error:
            reason = f"{error.kind.value}: {error.detail}"
            raise _PageError(self._issue(record, reason, error.retryable)) from None

    def _outcome_issues(self, entry: Any, page: int) -> list[SourceIssue]:
        """Issues for an OperationOutcome entry with errors (codes only, no diagnostics)."""
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "OperationOutcome":
            return []
        found = []
        for item in resource.get("issue") or ():
            if isinstance(item, Mapping) and item.get("severity") in ("error", "fatal"):
                code = item.get("code") if isinstance(item.get("code"), str) else "unknown"
                found.append(self._issue(f"page {page}", f"the server reports an error ({code})"))
        return found

    def _issue(self, record: str, reason: str, retryable: bool = False) -> SourceIssue:
        return SourceIssue(
            source=self.name, record=record, field="", reason=reason[:300], retryable=retryable
        )


def _entry_key(entry: Any) -> str | None:
    if not isinstance(entry, Mapping):
        return None
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str):
        return full_url
    resource = entry.get("resource")
    if isinstance(resource, Mapping):
        return f"{resource.get('resourceType')}/{resource.get('id')}"
    return None


def _is_slot(entry: Any) -> bool:
    resource = entry.get("resource") if isinstance(entry, Mapping) else None
    return isinstance(resource, Mapping) and resource.get("resourceType") == "Slot"


def _next_link(bundle: Mapping[str, Any], current: str) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return urljoin(current, url)
    return None
