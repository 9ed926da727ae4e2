"""The HTTP policy every adapter shares: one :class:`HttpClient` per outside system.

An :class:`HttpClient` holds one :class:`httpx.Client` (one connection pool), its
:class:`HttpPolicy` and the system's credentials (headers), and sends any method (GET, POST with
a JSON body, ...) through :meth:`HttpClient.request`. Every call:

- has an overall **deadline** (``deadline_s``) covering every attempt, redirect and wait: every
  socket operation (connect, TLS handshake, each read and write, of the headers as of the body)
  waits at most ``min(timeout_s, time left)``, and the body is read in chunks with the deadline
  checked between them, so a server trickling a byte at a time cannot hold a call past its
  deadline (:attr:`HttpFailureKind.DEADLINE`). (Through a proxy from the environment httpx's own
  transport is used, and only the body is bounded so.);
- follows **redirects** itself, at most ``max_redirects`` of them: a redirect to another origin
  (scheme, host or port) drops the ``Authorization``, ``Proxy-Authorization`` and ``Cookie``
  headers and every credential header of the client; a redirect from https to http is refused
  (:attr:`HttpFailureKind.REDIRECT`). The client keeps no cookie jar, so no cookie set by one host
  is ever sent to another;
- is **retried** (with :mod:`tenacity`) when trying again may succeed: connection failures,
  timeouts, HTTP 429 and 5xx, and errors of the caller's parser that say they are retryable. The
  wait before retry ``n`` (0-based) is ``min(backoff_max_s, backoff_initial_s * 2**n)`` scaled by
  ``1 ± jitter``, and at least the server's ``Retry-After`` (seconds or an HTTP date) on 429 and
  503. A wait that would end past the deadline is not waited: the last error is raised at once.
  A request that is not idempotent (POST, PATCH) is retried only when it surely never reached the
  server (the connection could not be made) or the server refused it with 429;
- fails at once on **TLS** and certificate errors (:attr:`HttpFailureKind.TLS`), never retried as
  a connection failure.

The jitter of retry ``n`` of an endpoint is drawn from a :class:`random.Random` seeded with
``(seed, client name, endpoint, n)``: two clients (another name or another seed) wait differently,
and a run waits the same whatever order its threads run in.

Errors are :class:`HttpError` naming the endpoint (a path with ids only, never a query or a body).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Annotated, Any, Self, TypeVar

import httpcore
import httpx
import tenacity
from pydantic import Field, PositiveFloat, StringConstraints

from nosology.pathway import FrozenModel
from routing._version import __version__
from routing.exceptions import RoutingError

__all__ = [
    "CREDENTIAL_HEADERS",
    "HttpClient",
    "HttpError",
    "HttpFailureKind",
    "HttpPolicy",
    "HttpResponse",
    "OwnsHttpClient",
    "TokenBucket",
    "check_http_url",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
"""Headers never sent to another origin on a redirect (besides the client's own credentials)."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_USER_AGENT = f"patient-routing/{__version__}"


class HttpFailureKind(StrEnum):
    """Why an HTTP call failed."""

    TIMEOUT = "timeout"
    """A socket operation got no answer within ``timeout_s``."""
    DEADLINE = "deadline"
    """The call's overall deadline passed (a slow or trickling server)."""
    CONNECTION = "connection"
    """The connection could not be made, or broke off."""
    TLS = "tls"
    """The TLS handshake failed: an untrusted or invalid certificate, or no common protocol."""
    REDIRECT = "redirect"
    """A redirect that is not followed: too many, https to http, or a bad ``Location``."""
    HTTP_STATUS = "http_status"
    """An HTTP error status."""
    MALFORMED = "malformed"
    """An answer that is not what was expected: not JSON, or larger than allowed."""


class HttpError(RoutingError):
    """An HTTP call that failed.

    Parameters
    ----------
    endpoint
        The endpoint (a path with ids only: no query, no body).
    kind
        Why it failed.
    detail
        What happened (no input values).
    retryable
        Whether trying again later may succeed.
    status
        The HTTP status, for :attr:`HttpFailureKind.HTTP_STATUS`.
    retry_after
        The server's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(
        self,
        endpoint: str,
        kind: HttpFailureKind,
        detail: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{endpoint}: {kind.value}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_http_error,
            (
                self.endpoint,
                self.kind,
                self.detail,
                self.retryable,
                self.status,
                self.retry_after,
            ),
        )


def _rebuild_http_error(
    endpoint: str,
    kind: HttpFailureKind,
    detail: str,
    retryable: bool,
    status: int | None,
    retry_after: float | None,
) -> HttpError:
    return HttpError(
        endpoint, kind, detail, retryable=retryable, status=status, retry_after=retry_after
    )


def check_http_url(url: str) -> str:
    """``url`` without a trailing slash if it is an http(s) URL with a host, else ValueError.

    Examples
    --------
    >>> check_http_url("https://example.org/api/")
    'https://example.org/api'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host")
    return url.rstrip("/")


class HttpPolicy(FrozenModel):
    """How a client talks HTTP: timeouts, deadline, retries, redirects, TLS, proxies.

    Attributes
    ----------
    timeout_s
        Timeout of each socket operation (connect, read, write), in seconds.
    deadline_s
        The most one call may take, every attempt, redirect and wait included, in seconds.
    max_attempts
        Attempts per call, the first included.
    backoff_initial_s, backoff_max_s
        The wait before retry ``n`` (0-based) is ``min(backoff_max_s, backoff_initial_s * 2**n)``,
        scaled by a factor in ``[1 - jitter, 1 + jitter]``.
    jitter
        The relative spread of the waits, in ``[0, 1]``.
    seed
        Seeds the jitter (with the client's name).
    max_redirects
        Redirects followed per call at most.
    max_body_bytes
        An answer larger than this (decoded) fails as :attr:`HttpFailureKind.MALFORMED`.
    use_system_proxy
        Whether to honour the ``*_proxy`` (and ``SSL_CERT_FILE``) environment variables.
    ca_file
        A PEM file of the certificate authorities to trust instead of the default ones.
    """

    timeout_s: PositiveFloat = 10.0
    deadline_s: PositiveFloat = 60.0
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    backoff_initial_s: Annotated[float, Field(ge=0, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(ge=0, le=600)] = 8.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.25
    seed: int = 0
    max_redirects: Annotated[int, Field(ge=0, le=30)] = 5
    max_body_bytes: Annotated[int, Field(ge=1)] = 64 * 1024 * 1024
    use_system_proxy: bool = True
    ca_file: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None

    def backoff(self, endpoint: str, attempt: int, name: str = "") -> float:
        """The wait in seconds after failed attempt ``attempt`` (0-based) of ``endpoint``.

        ``name`` is the client's name: clients with other names draw other jitter.

        Examples
        --------
        >>> policy = HttpPolicy(jitter=0.0)
        >>> [policy.backoff("/x", n) for n in range(6)]
        [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
        """
        base = min(self.backoff_max_s, self.backoff_initial_s * 2.0**attempt)
        spread = random.Random(f"{self.seed}|{name}|{endpoint}|{attempt}").uniform(-1.0, 1.0)
        return max(0.0, base * (1.0 + self.jitter * spread))


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A successful answer, read whole.

    Attributes
    ----------
    status
        The HTTP status (below 300).
    headers
        The response headers.
    body
        The body, decoded from any content encoding.
    url
        The URL that answered (after redirects).
    """

    status: int
    headers: httpx.Headers
    body: bytes
    url: str

    def json(self, endpoint: str) -> Any:
        """The body parsed as JSON; :class:`HttpError` (malformed) if it is not JSON."""
        try:
            return json.loads(self.body)
        except UnicodeDecodeError:
            reason = "not UTF-8 text"
        except json.JSONDecodeError as error:
            reason = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        except RecursionError:
            reason = "not valid JSON: nested too deeply"
        raise HttpError(endpoint, HttpFailureKind.MALFORMED, reason, retryable=False)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds from ``now`` (seconds or an HTTP date); None if unusable.

    Examples
    --------
    >>> parse_retry_after("120")
    120.0
    >>> now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now)
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens a second, at most ``capacity`` saved up.

    :meth:`acquire` takes a token, waiting (outside the lock) for one if none is left; waiting
    callers are served in the order they asked.

    Parameters
    ----------
    rate
        Tokens added per second.
    capacity
        The most tokens held (the largest burst); the bucket starts full.
    clock, sleep
        Monotonic time and waiting, injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        capacity: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0 or capacity < 1:
            raise ValueError("a token bucket needs rate > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token; return how long it waited, in seconds."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0  # below zero: reserved, to be waited for
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


_DEADLINE_SLACK_S = 0.01
"""A timeout this close to the deadline is the deadline's (socket timers are not exact)."""

_DEADLINE: ContextVar[float | None] = ContextVar("routing_http_deadline", default=None)
"""The deadline of the call this thread is sending, in :func:`time.monotonic` seconds."""


def _capped(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before the current call's deadline; ``error`` if none."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current call's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """The synchronous network backend, its streams bounded by the current call's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`_DeadlineBackend` (direct connections, one pool)."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context)
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )


class _Client(httpx.Client):
    """An httpx client whose direct connections go over :class:`_DeadlineTransport`.

    Proxies from the environment (when ``trust_env``) keep httpx's own transports.
    """

    def _init_transport(
        self,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = httpx.Limits(),  # noqa: B008 (immutable; httpx's default)
        transport: httpx.BaseTransport | None = None,
    ) -> httpx.BaseTransport:
        if transport is not None:
            return transport
        if not isinstance(verify, ssl.SSLContext):
            verify = httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        return _DeadlineTransport(verify)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


def _tls_failure(error: BaseException) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` behind a transport error, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: cookies are sent only as explicit headers."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@dataclass
class _Call:
    """One call's state: its deadline and the server's latest ``Retry-After``."""

    endpoint: str
    deadline: float
    idempotent: bool
    retry_after: float | None = None


class ClosingContext:
    """A context manager whose exit calls :meth:`close` (which subclasses define)."""

    def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class HttpClient(ClosingContext):
    """One outside system's HTTP client: a connection pool, a policy, credentials.

    Parameters
    ----------
    policy
        Timeouts, deadline, retries, redirects, TLS, proxies.
    name
        The system's name (in logs; seeds the jitter with ``policy.seed``).
    headers
        Headers sent with every request (e.g. ``Accept``).
    credentials
        Headers that authenticate (e.g. ``Authorization``): sent with every request to the first
        origin of each call, never to another origin on a redirect, never logged.
    throttle
        Called before each request is sent (a rate limit, e.g. :meth:`TokenBucket.acquire`).
    sleep, clock
        Waiting and monotonic time, injectable for tests.
    transport
        An httpx transport to use instead of the network one (tests).

    Examples
    --------
    >>> with HttpClient(HttpPolicy(), name="example") as client:
    ...     client.requests
    0
    """

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        name: str,
        headers: Mapping[str, str] | None = None,
        credentials: Mapping[str, str] | None = None,
        throttle: Callable[[], object] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.name = name
        self._credentials = dict(credentials or {})
        self._secret = CREDENTIAL_HEADERS | {key.lower() for key in self._credentials}
        self._throttle = throttle
        self._sleep = sleep
        self._clock = clock
        if policy.ca_file is not None:
            context = ssl.create_default_context(cafile=policy.ca_file)
        else:
            context = httpx.create_ssl_context(trust_env=policy.use_system_proxy)
        self._client = _Client(
            headers={"User-Agent": _USER_AGENT, **(headers or {})},
            cookies=_no_cookies(),
            verify=context,
            trust_env=policy.use_system_proxy,
            follow_redirects=False,
            timeout=policy.timeout_s,
            transport=transport,
        )
        self._lock = threading.Lock()
        self.requests = 0
        """HTTP requests sent so far (retries and redirects included)."""
        self.retries = 0
        """Attempts that were retries."""

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    # ------------------------------------------------------------------ calls

    def get_json(self, url: str, *, endpoint: str, headers: Mapping[str, str] | None = None) -> Any:
        """``GET url`` and parse its JSON (see :meth:`request`)."""
        return self.request(
            "GET", url, endpoint=endpoint, headers=headers, read=lambda r: r.json(endpoint)
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        read: Callable[[HttpResponse], T],
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        on_error_status: Callable[[int, bytes], None] | None = None,
        retry_on: tuple[type[Exception], ...] = (),
        idempotent: bool | None = None,
    ) -> T:
        """Send ``method url`` under the policy and return ``read`` of the answer.

        Parameters
        ----------
        method
            The HTTP method.
        url
            The absolute URL.
        endpoint
            The endpoint's label in errors and logs (a path with ids only).
        read
            Turns a successful answer (status below 300) into the result (a 3xx answer that is not
            followed fails as :attr:`HttpFailureKind.REDIRECT`); its errors propagate
            (retried if they are of a ``retry_on`` type and their ``retryable`` is true).
        json_body
            A JSON body to send, if any.
        headers
            Extra headers for this call (sent to the first origin only on a redirect if they are
            credentials).
        on_error_status
            Called with the status and body of an error answer (400 and above) before the
            :class:`HttpError` is raised: it may raise the system's own error instead.
        retry_on
            Error types of ``read`` and ``on_error_status`` that are retried when ``retryable``.
        idempotent
            Whether the request may be repeated safely; by default true for GET, HEAD, OPTIONS,
            PUT, DELETE and TRACE.

        Raises
        ------
        HttpError
            When no usable answer came within the deadline and the attempts.
        """
        method = method.upper()
        call = _Call(
            endpoint=endpoint,
            deadline=self._clock() + self.policy.deadline_s,
            idempotent=method in _IDEMPOTENT if idempotent is None else idempotent,
        )
        content = None if json_body is None else json.dumps(json_body).encode()
        extra = {**self._credentials, **(headers or {})}
        if content is not None:
            extra.setdefault("Content-Type", "application/json")

        def retryable(error: BaseException) -> bool:
            if isinstance(error, (HttpError, *retry_on)):
                return bool(getattr(error, "retryable", False))
            return False

        attempts = [0]

        def attempt() -> T:
            attempts[0] += 1
            if attempts[0] > 1:
                with self._lock:
                    self.retries += 1
            call.retry_after = None
            response = self._exchange(call, method, url, extra, content)
            if response.status >= 400:
                self._raise_status(call, response, on_error_status)
            if response.status >= 300:
                detail = f"HTTP {response.status} without a Location to follow"
                raise HttpError(endpoint, HttpFailureKind.REDIRECT, detail, retryable=False)
            return read(response)

        retrying = tenacity.Retrying(
            stop=lambda state: self._stop(call, state),
            wait=lambda state: self._wait(call, state),
            retry=tenacity.retry_if_exception(retryable),
            sleep=self._sleep,
            before_sleep=lambda state: logger.debug(
                "%s %s: %s; retry %d in %.3f s",
                self.name,
                endpoint,
                state.outcome.exception() if state.outcome else None,
                state.attempt_number,
                state.upcoming_sleep,
            ),
            reraise=True,
        )
        return retrying(attempt)

    # ------------------------------------------------------------------ retry policy

    def _wait(self, call: _Call, state: tenacity.RetryCallState) -> float:
        backoff = self.policy.backoff(call.endpoint, state.attempt_number - 1, self.name)
        error = state.outcome.exception() if state.outcome is not None else None
        after = error.retry_after if isinstance(error, HttpError) else call.retry_after
        return max(backoff, after or 0.0)

    def _stop(self, call: _Call, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            return True
        if self._clock() + self._wait(call, state) >= call.deadline:
            logger.debug(
                "%s %s: no retry, the wait ends past the deadline", self.name, call.endpoint
            )
            return True
        return False

    def _raise_status(
        self,
        call: _Call,
        response: HttpResponse,
        on_error_status: Callable[[int, bytes], None] | None,
    ) -> None:
        status = response.status
        after = None
        if status in (429, 503):
            after = parse_retry_after(response.headers.get("Retry-After"))
        call.retry_after = after
        if on_error_status is not None:
            on_error_status(status, response.body)
        retryable = status == 429 or (status >= 500 and call.idempotent)
        detail = f"HTTP {status}" + (f", Retry-After {after:g} s" if after is not None else "")
        raise HttpError(
            call.endpoint,
            HttpFailureKind.HTTP_STATUS,
            detail,
            retryable=retryable,
            status=status,
            retry_after=after,
        )

    # ------------------------------------------------------------------ one exchange

    def _exchange(
        self,
        call: _Call,
        method: str,
        url: str,
        extra: Mapping[str, str],
        content: bytes | None,
    ) -> HttpResponse:
        """One attempt: the request and its redirects, the body read whole."""
        headers = dict(extra)
        target = httpx.URL(url)
        first = _origin(target)
        for _hop in range(self.policy.max_redirects + 1):
            if self._throttle is not None:
                self._throttle()
            with self._lock:
                self.requests += 1
            with self._send(call, method, target, headers, content) as response:
                if response.status_code not in _REDIRECTS or "Location" not in response.headers:
                    body = self._read_body(call, response)
                    return HttpResponse(response.status_code, response.headers, body, str(target))
                location = response.headers["Location"]
                status = response.status_code
            target = self._redirect_target(call, target, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, content = ("GET" if method != "HEAD" else method), None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if _origin(target) != first:
                headers = {k: v for k, v in headers.items() if k.lower() not in self._secret}
        raise HttpError(
            call.endpoint,
            HttpFailureKind.REDIRECT,
            f"more than {self.policy.max_redirects} redirects",
            retryable=False,
        )

    def _redirect_target(self, call: _Call, current: httpx.URL, location: str) -> httpx.URL:
        try:
            target = current.join(location)
        except httpx.InvalidURL:
            target = None
        if target is None or target.scheme not in ("http", "https") or not target.host:
            raise HttpError(
                call.endpoint,
                HttpFailureKind.REDIRECT,
                "a redirect to a non-http URL",
                retryable=False,
            )
        if current.scheme == "https" and target.scheme == "http":
            raise HttpError(
                call.endpoint,
                HttpFailureKind.REDIRECT,
                "a redirect from https to http",
                retryable=False,
            )
        return target

    def _remaining(self, call: _Call) -> float:
        return call.deadline - self._clock()

    @contextmanager
    def _send(
        self,
        call: _Call,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        content: bytes | None,
    ) -> Iterator[httpx.Response]:
        """Send one request (no redirects followed), mapping transport errors to HttpError."""
        remaining = self._remaining(call)
        if remaining <= 0:
            raise self._deadline(call)
        timeout = min(self.policy.timeout_s, remaining)
        request = self._client.build_request(
            method, url, headers=headers, content=content, timeout=timeout
        )
        token = _DEADLINE.set(time.monotonic() + remaining)
        try:
            try:
                response = self._client.send(request, stream=True)
            except httpx.TransportError as error:
                raise self._transport_error(call, error) from None
            try:
                yield response
            except httpx.TransportError as error:
                raise self._transport_error(call, error) from None
            finally:
                response.close()
        finally:
            _DEADLINE.reset(token)

    def _read_body(self, call: _Call, response: httpx.Response) -> bytes:
        limit = self.policy.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise HttpError(
                    call.endpoint,
                    HttpFailureKind.MALFORMED,
                    f"answer larger than {limit} bytes",
                    retryable=False,
                )
            chunks.append(chunk)
            if self._remaining(call) <= 0:
                raise self._deadline(call)
        return b"".join(chunks)

    def _deadline(self, call: _Call) -> HttpError:
        return HttpError(
            call.endpoint,
            HttpFailureKind.DEADLINE,
            f"no complete answer within the deadline of {self.policy.deadline_s:g} s",
            retryable=True,
        )

    def _transport_error(self, call: _Call, error: httpx.TransportError) -> HttpError:
        endpoint = call.endpoint
        tls = _tls_failure(error)
        if tls is not None:
            reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None)
            what = (
                "certificate verify failed"
                if isinstance(tls, ssl.SSLCertVerificationError)
                else "handshake failed"
            )
            detail = f"TLS {what}" + (f" ({reason})" if reason else "")
            return HttpError(endpoint, HttpFailureKind.TLS, detail, retryable=False)
        if isinstance(error, httpx.TimeoutException):
            if self._remaining(call) <= _DEADLINE_SLACK_S:
                return self._deadline(call)
            detail = f"no answer within {self.policy.timeout_s:g} s"
            retry = call.idempotent or isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout)
            return HttpError(endpoint, HttpFailureKind.TIMEOUT, detail, retryable=retry)
        if isinstance(error, httpx.ConnectError):
            return HttpError(
                endpoint, HttpFailureKind.CONNECTION, "could not connect", retryable=True
            )
        if isinstance(error, httpx.UnsupportedProtocol):
            return HttpError(endpoint, HttpFailureKind.REDIRECT, "not an http URL", retryable=False)
        detail = f"broken off ({type(error).__name__})"
        return HttpError(endpoint, HttpFailureKind.CONNECTION, detail, retryable=call.idempotent)


class OwnsHttpClient(ClosingContext):
    """A client of one outside system that holds one :class:`HttpClient` (its pool) in ``_http``.

    :meth:`close` closes the pool; the object is its own context manager (``with Source(...)
    as source:``).
    """

    _http: HttpClient

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
