"""The journal: every event appended to a database, the state rebuilt from it by replay.

Storage through SQLAlchemy 2: an SQLite file by default (``routing-journal.db`` in the working
directory; no server needed), PostgreSQL by URL (``postgresql+psycopg://…``, the ``postgres``
extra). The schema is created and upgraded by the Alembic migrations shipped in the package,
on :meth:`Journal.open`.

Appending is optimistic. A journal keeps the state as of the last event it read, and the
version of each slot's row (the number of events that touched the slot). :meth:`Journal.append`
checks the event against that state (a refused event raises its
:class:`~routing.exceptions.LifecycleError`, nothing written), then, in one transaction:

1. reads the events other writers appended since; if one of them touched a slot or the route
   the new event touches, the new event was decided on a stale state: :class:`ConflictError`
   (the journal takes the new events in, so that the caller re-reads and re-plans);
2. updates each touched slot's row only if its version is the one read and the places stay
   within capacity (``UPDATE slot_places SET held = held + :dh, booked = booked + :db,
   version = version + 1 WHERE slot_id = :id AND version = :v AND held + booked + :dh + :db
   <= capacity``); no row updated is a :class:`ConflictError`;
3. inserts the event row, and commits.

Writers are serialised per transaction (``BEGIN IMMEDIATE`` on SQLite, with a busy timeout, so
that a second writer waits instead of failing with "database is locked"; a transaction-scoped
advisory lock on PostgreSQL, so that sequence numbers commit in order): the loser of a race for
the last place gets :class:`ConflictError`, never a storage error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from routing.exceptions import ConflictError, DuplicateEventError, LifecycleError
from routing.lifecycle.apply import Applied, apply_with_effects
from routing.lifecycle.events import Event, event_stream, parse_event
from routing.lifecycle.model import State
from routing.lifecycle.tables import EventRow, SlotPlacesRow

__all__ = [
    "DEFAULT_FILE",
    "Journal",
    "default_url",
    "missing_journal",
    "read_events",
    "upgrade",
]

logger = logging.getLogger(__name__)

DEFAULT_FILE = "routing-journal.db"
"""The SQLite file a journal opens in the working directory when no URL is given."""

_PG_LOCK = 0x726F757465  # the advisory lock that serialises appends on PostgreSQL


def default_url() -> str:
    """``sqlite:///`` + :data:`DEFAULT_FILE` in the current working directory."""
    return f"sqlite:///{Path.cwd() / DEFAULT_FILE}"


def missing_journal(url: str) -> str | None:
    """Why ``url`` names no journal to read (``None`` when it may): not an SQLAlchemy URL, or an
    SQLite file that does not exist (opening it would create an empty journal). The reason never
    repeats the URL, which may hold a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "not an SQLAlchemy URL"
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            return "no SQLite journal file at this path"
    return None


def _engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 60000")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(engine: Engine) -> None:
    """Bring the database's schema to the newest migration (Alembic ``upgrade head``)."""
    config = Config()
    location = resources.files("routing.lifecycle") / "migrations"
    config.set_main_option("script_location", str(location))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def read_events(url: str | None = None) -> list[Event]:
    """Every event of the journal at ``url``, in the order appended, without folding them.

    For readers that fold the events themselves (the manager's report replays them day by
    day): :meth:`Journal.open` would fold them all once more. The schema is created or
    upgraded as by :meth:`Journal.open`.

    Parameters
    ----------
    url
        A SQLAlchemy URL; :func:`default_url` when ``None``.
    """
    engine = _engine(url or default_url())
    try:
        upgrade(engine)
        with engine.connect() as connection:
            payloads = connection.execute(select(EventRow.payload).order_by(EventRow.seq)).all()
    finally:
        engine.dispose()
    return [parse_event(payload) for (payload,) in payloads]


class Journal:
    """An append-only journal of lifecycle events in a database, and the state it holds.

    Open with :meth:`open`. Not safe to share between threads; open one per process or thread
    (the database arbitrates between them).

    Parameters
    ----------
    engine
        A SQLAlchemy engine on a migrated database (see :func:`upgrade`).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._state = State()
        self._seq = 0
        self._count = 0
        self._versions: dict[str, int] = {}
        with engine.begin() as connection:
            self._catch_up(connection)

    @classmethod
    def open(cls, url: str | None = None) -> Journal:
        """Open (creating or upgrading the schema as needed) the journal at ``url``.

        Parameters
        ----------
        url
            A SQLAlchemy URL; :func:`default_url` when ``None``.
        """
        engine = _engine(url or default_url())
        upgrade(engine)
        return cls(engine)

    @property
    def url(self) -> str:
        """The database's URL, without a password."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------
    def state(self) -> State:
        """The state as of the last event this journal read or appended."""
        return self._state

    def refresh(self) -> State:
        """Take in the events other writers appended; the state after them."""
        with self._engine.begin() as connection:
            self._catch_up(connection)
        return self._state

    def events(self) -> Iterator[Event]:
        """Every event of the journal, in the order appended."""
        # Read at once: on SQLite a read transaction holds the writers' lock until it ends.
        with self._engine.connect() as connection:
            payloads = connection.execute(select(EventRow.payload).order_by(EventRow.seq)).all()
        for (payload,) in payloads:
            yield parse_event(payload)

    def replay(self) -> State:
        """The state rebuilt from every event in the database, from nothing."""
        state = State()
        for item in self.events():
            state = apply_with_effects(state, item).state
        return state

    def __len__(self) -> int:
        """The number of events read or appended (sequence numbers may have gaps)."""
        return self._count

    # -- writing ---------------------------------------------------------------------------------
    def append(self, item: Event) -> State:
        """Check ``item`` against the state, append it, and return the state after it.

        Raises
        ------
        LifecycleError
            The state refuses the event (nothing is written).
        ConflictError
            Another writer changed a slot or the route the event touches since this journal
            read them (nothing is written; the journal has read the other writers' events).
        """
        return self.append_all((item,))

    def append_all(self, items: Iterable[Event]) -> State:
        """Append events in order, all in one transaction: every one of them, or none.

        Raises
        ------
        LifecycleError, ConflictError
            As :meth:`append`, for the first event refused; nothing of the batch is written.
        """
        batch = list(items)
        if not batch:
            return self._state
        try:
            touches = self._check(batch)
        except LifecycleError:  # perhaps refused only by a stale state: read, then judge
            self.refresh()
            touches = self._check(batch)  # refused events go no further
        saved = (self._state, self._seq, self._count, dict(self._versions))
        others: tuple[set[str], set[str]] | None = None
        try:
            with self._engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
                others = self._catch_up(connection)
                if others:
                    _refuse_stale(batch[0], touches, others)
                for item in batch:
                    self._append_one(connection, item)
        except BaseException:
            # Nothing of the batch was written: back to the state before it.
            self._state, self._seq, self._count, self._versions = saved
            if others:  # take in what the other writers appended: the caller re-plans on it
                self.refresh()
            raise
        logger.debug("appended %d events up to %d", len(batch), self._seq)
        return self._state

    # -- internals -------------------------------------------------------------------------------

    def _check(self, batch: list[Event]) -> tuple[set[str], set[str]]:
        """Apply the batch to the state as read: the streams and slots it touches."""
        state = self._state
        streams: set[str] = set()
        slots: set[str] = set()
        for item in batch:
            applied = apply_with_effects(state, item)
            state = applied.state
            streams.add(event_stream(item))
            slots.update(applied.slots)
        return streams, slots

    def _append_one(self, connection: Connection, item: Event) -> None:
        applied = apply_with_effects(self._state, item)
        stream = event_stream(item)
        self._write_places(connection, item, applied)
        try:
            seq = connection.execute(
                insert(EventRow)
                .values(
                    event_id=item.event_id,
                    stream=stream,
                    type=item.type,
                    payload=item.model_dump(mode="json"),
                    recorded_at=datetime.now(UTC),
                )
                .returning(EventRow.seq)
            ).scalar_one()
        except IntegrityError:
            raise DuplicateEventError(
                item.event_id, "event_id", "an event with this id is in the journal"
            ) from None
        self._take(applied, seq)

    def _take(self, applied: Applied, seq: int) -> None:
        self._state = applied.state
        self._seq = seq
        self._count += 1
        for slot_id in dict.fromkeys(applied.slots):
            self._versions[slot_id] = self._versions.get(slot_id, 0) + 1

    def _catch_up(self, connection: Connection) -> tuple[set[str], set[str]] | None:
        """Fold in the events appended since the last one read: the streams and slots they
        touched, or ``None`` when there were none."""
        rows = connection.execute(
            select(EventRow.seq, EventRow.payload)
            .where(EventRow.seq > self._seq)
            .order_by(EventRow.seq)
        ).all()
        if not rows:
            return None
        streams: set[str] = set()
        slots: set[str] = set()
        for seq, payload in rows:
            item = parse_event(payload)
            applied = apply_with_effects(self._state, item)
            self._take(applied, seq)
            streams.add(event_stream(item))
            slots.update(applied.slots)
        logger.debug("read %d events of other writers", len(rows))
        return streams, slots

    def _write_places(self, connection: Connection, item: Event, applied: Applied) -> None:
        live = applied.state.live
        before = self._state.live
        for slot_id in dict.fromkeys(applied.slots):
            assert live is not None  # an event that touches a slot leaves a live capacity
            after = live.state(slot_id)
            version = self._versions.get(slot_id)
            if version is None:  # published by this event
                try:
                    connection.execute(
                        insert(SlotPlacesRow).values(
                            slot_id=slot_id,
                            capacity=after.capacity,
                            held=after.held,
                            booked=after.booked,
                            withdrawn=after.withdrawn,
                            version=1,
                        )
                    )
                except IntegrityError:
                    raise ConflictError(
                        item.event_id, f"slot {slot_id!r} was published by another writer"
                    ) from None
                continue
            assert before is not None
            old = before.state(slot_id)
            dh, db = after.held - old.held, after.booked - old.booked
            row = SlotPlacesRow
            statement = (
                update(row)
                .where(row.slot_id == slot_id, row.version == version)
                .values(
                    held=row.held + dh,
                    booked=row.booked + db,
                    withdrawn=after.withdrawn,
                    version=row.version + 1,
                )
            )
            if dh + db > 0:
                statement = statement.where(row.held + row.booked + dh + db <= row.capacity)
            if connection.execute(statement).rowcount != 1:
                raise ConflictError(item.event_id, f"slot {slot_id!r} changed since it was read")


def _refuse_stale(
    first: Event, touches: tuple[set[str], set[str]], others: tuple[set[str], set[str]]
) -> None:
    """A :class:`ConflictError` if other writers touched a route or slot the batch touches."""
    clash = sorted(touches[1] & others[1])
    routes = sorted((touches[0] & others[0]) - {"slots"})
    if clash or routes:
        what = f"slot {clash[0]!r}" if clash else f"route {routes[0]!r}"
        raise ConflictError(first.event_id, f"{what} changed since it was read")
