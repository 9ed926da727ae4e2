"""``routing notify``: tell patients what changed, from the route journal.

Reads the journal at ``--db`` (the lifecycle's state), words the notices of every route as of
``--now`` (:func:`routing.notify.state_notices`), adds to the outbox those not there yet (one
message per notice and channel: running the command again, or after the journal is replayed,
sends nothing twice), then delivers the messages that are due, in order per patient, retrying
later those that failed for a reason that may pass.

Channels: ``--smtp HOST:PORT`` with ``--smtp-from ADDRESS`` and ``--contacts FILE`` (JSON,
patient pseudonym → e-mail address; the journal holds no addresses), and ``--webhook URL`` with
``--webhook-secret-file FILE`` (HMAC-SHA256 of each body). At least one.

Exit status: 0 when every due message was sent (or none was due), 1 when some wait for a retry
or failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routing.exceptions import InvalidInputError
from routing.outputs.terminal import TableBlock, emit

if TYPE_CHECKING:
    from routing.notify import Channel

__all__ = ["add_notify_arguments", "run_notify"]

EXIT_OK, EXIT_PENDING, EXIT_BAD_INPUT = 0, 1, 2


def add_notify_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``routing notify`` on ``parser``."""
    parser.add_argument("--smtp", metavar="HOST:PORT", help="send e-mail through this server")
    parser.add_argument("--smtp-from", metavar="ADDRESS", help="the e-mails' From address")
    parser.add_argument(
        "--contacts",
        metavar="FILE",
        help="JSON object: patient pseudonym -> e-mail address (needed with --smtp)",
    )
    parser.add_argument("--webhook", metavar="URL", help="POST each message to this gateway")
    parser.add_argument(
        "--webhook-secret-file", metavar="FILE", help="the webhook's signing secret (a file)"
    )
    parser.add_argument(
        "--language", choices=("ru", "en"), default="ru", help="the messages' language (ru)"
    )
    parser.add_argument(
        "--now", help="the current time, ISO 8601 with offset (default: the clock's)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per SMTP or webhook call (10)"
    )


def run_notify(args: argparse.Namespace) -> int:
    """Run ``routing notify`` with parsed ``args``; the exit status (module docstring)."""
    try:
        return _run(args)
    except InvalidInputError as exc:
        sys.stderr.write(f"routing notify: error: {exc}\n")
        return EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    from routing.lifecycle.journal import Journal, default_url, missing_journal
    from routing.notify import Outbox, state_notices

    now = _now(args.now)
    channels = _channels(args)
    url = args.db or default_url()
    try:
        missing = missing_journal(url)
        if missing is not None:  # opening it would create an empty journal and tell nobody
            raise InvalidInputError("routing notify", "--db", missing)
        try:
            journal = Journal.open(url)
        except Exception as exc:  # a URL that cannot be opened is bad input
            raise InvalidInputError("routing notify", "--db", type(exc).__name__) from None
    except InvalidInputError:
        _close(channels)
        raise
    try:
        state = journal.state()
        notices = state_notices(state, now, language=args.language)
        outbox = Outbox(journal)
        added = outbox.enqueue_safely(notices, list(channels), now)
        report = outbox.deliver(channels, now)
    finally:
        journal.close()
        _close(channels)
    figures = {
        "notices": len(notices),
        "added": added,
        "sent": len(report.sent),
        "retrying": len(report.retrying),
        "failed": len(report.failed),
        "waiting": len(report.waiting),
    }
    if args.json:
        sys.stdout.write(json.dumps(figures, sort_keys=True) + "\n")
    else:
        emit([TableBlock(("messages", "count"), tuple((k, str(v)) for k, v in figures.items()))])
    return EXIT_PENDING if report.retrying or report.failed else EXIT_OK


def _close(channels: Mapping[str, Channel]) -> None:
    for channel in channels.values():
        close = getattr(channel, "close", None)
        if callable(close):
            close()


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError("routing notify", "--now", "not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidInputError("routing notify", "--now", "needs a UTC offset (e.g. +03:00)")
    return moment


def _channels(args: argparse.Namespace) -> Mapping[str, Channel]:
    from routing.notify import EmailChannel, WebhookChannel

    if args.timeout <= 0:
        raise InvalidInputError("routing notify", "--timeout", "must be more than 0 seconds")
    channels: dict[str, Channel] = {}
    if args.smtp:
        host, _, port = args.smtp.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidInputError("routing notify", "--smtp", "give HOST:PORT")
        if not args.smtp_from or "@" not in args.smtp_from:
            raise InvalidInputError("routing notify", "--smtp-from", "an e-mail address is needed")
        if not args.contacts:
            raise InvalidInputError("routing notify", "--contacts", "needed with --smtp")
        channels["email"] = EmailChannel(
            host,
            int(port),
            sender=args.smtp_from,
            addresses=_contacts(Path(args.contacts)),
            timeout=args.timeout,
        )
    elif args.smtp_from or args.contacts:
        raise InvalidInputError("routing notify", "--smtp", "--smtp-from and --contacts need it")
    if args.webhook:
        if not args.webhook_secret_file:
            raise InvalidInputError("routing notify", "--webhook-secret-file", "needed")
        secret = _secret(Path(args.webhook_secret_file))
        try:
            channels["webhook"] = WebhookChannel(args.webhook, secret=secret, timeout=args.timeout)
        except ValueError as exc:
            raise InvalidInputError("routing notify", "--webhook", str(exc)) from None
    elif args.webhook_secret_file:
        raise InvalidInputError("routing notify", "--webhook", "--webhook-secret-file needs it")
    if not channels:
        raise InvalidInputError("routing notify", "--smtp", "give --smtp and/or --webhook")
    return channels


def _contacts(path: Path) -> dict[str, str]:
    """The contact directory; an entry at fault is named by its position, never its value."""
    record = f"contacts file {path.name}"
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise InvalidInputError(record, "file", "cannot be read as JSON") from None
    if not isinstance(data, dict):
        raise InvalidInputError(record, "file", "must be a JSON object")
    for n, (patient, address) in enumerate(data.items()):
        if not isinstance(address, str) or "@" not in address or not patient:
            raise InvalidInputError(record, f"entry {n}", "is not pseudonym -> e-mail address")
    return dict(data)


def _secret(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError:
        raise InvalidInputError("routing notify", "--webhook-secret-file", "unreadable") from None
    if len(secret) < 16:
        raise InvalidInputError(
            "routing notify", "--webhook-secret-file", "the secret needs 16 bytes at least"
        )
    return secret
