"""Data subject requests end to end: each one audited in `privacy_requests`, each on its own
Postgres connection (requests are rare; the processor's and the API's pools stay untouched).

Deletion is a job in two transactions. First the suppression hashes are committed, so from then
on every processor batch drops the person's events. Then, holding the processor's locks on the
person's identifiers and profiles, every row about them is deleted. A batch that read the
suppressions just before they were committed holds those locks until it commits, so its effects
are already there for the second transaction to delete.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import Connection, IsolationLevel

from cdp.identity import Identifier
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.consent import record_consent
from cdp.privacy.errors import InvalidTransition, SubjectNotFound
from cdp.privacy.export import export_person
from cdp.privacy.hashing import PROFILE_ID, Hasher, parse_subject
from cdp.privacy.keystate import check_pii_state_of, pii_codec
from cdp.privacy.observability import REQUESTS
from cdp.privacy.purge import purge_person
from cdp.privacy.requests import (
    claim_request,
    finish_request,
    open_request,
    read_request,
    release_request,
)
from cdp.privacy.subject import Person, find_person, lock_person
from cdp.privacy.suppression import add_suppressions, suppressed_events
from cdp.schemas import codec_for
from cdp.settings import Settings

__all__ = ["Export", "PrivacyService"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts of a transaction that deadlocks with a processor batch (both lock identifiers).
ATTEMPTS = 5


@dataclass
class Export:
    """A started export: `chunks()` writes the document, then marks the request done."""

    request_id: int
    _conn: Connection[Any]
    _person: Person
    _subject: str
    _pii: PiiCodec

    def chunks(self) -> Iterator[bytes]:
        failed: BaseException | None = None
        try:
            with self._conn.transaction():
                yield from export_person(self._conn, self._person, self._subject, self._pii)
        except BaseException as exc:  # a client gone mid-stream (GeneratorExit) fails it too
            failed = exc
            raise
        finally:
            self._conn.rollback()
            self._conn.read_only = False
            self._conn.autocommit = True
            with self._conn.transaction():
                if failed is None:
                    finish_request(self._conn, self.request_id, "done")
                else:
                    finish_request(self._conn, self.request_id, "failed", error=repr(failed))
            REQUESTS.labels("export", "failed" if failed else "done").inc()
            self._conn.close()


class PrivacyService:
    """Export, deletion, suppression and consent by any identifier, for one settings object."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._hash = Hasher(settings.privacy.hash_key.get_secret_value().encode())
        self._codec = codec_for(settings)
        self._pii = pii_codec(settings)
        self._pii_checked = False

    def subject(self, reference: str) -> Identifier:
        """`InvalidSubject` unless `reference` names an identifier."""
        return parse_subject(reference, self._settings.identity)

    def _connect(self) -> Connection[Any]:
        """A connection; before the first, `PiiStateMismatch` if the database's identifiers
        were written with another hash key or encryption mode (no lookup would find them)."""
        if not self._pii_checked:
            check_pii_state_of(self._settings)
            self._pii_checked = True
        return psycopg.connect(self._settings.database_dsn(), autocommit=True)

    def _retrying(self, work: Callable[[], T]) -> T:
        for attempt in range(ATTEMPTS):
            try:
                return work()
            except psycopg.errors.DeadlockDetected:
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def start_export(self, reference: str, who: str) -> Export:
        """Audit the request and find the person; `SubjectNotFound` if no profile holds it."""
        subject = self.subject(reference)
        conn = self._connect()
        try:
            request_id = open_request(conn, "export", who, subject, self._hash(subject))
            person = find_person(conn, subject, self._pii)
            if person is None:
                finish_request(conn, request_id, "failed", error="not_found")
                REQUESTS.labels("export", "not_found").inc()
                raise SubjectNotFound(f"no profile holds {subject.type}:…")
            conn.autocommit = False
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
        except BaseException:
            conn.close()
            raise
        return Export(request_id, conn, person, str(subject), self._pii)

    def request_deletion(self, reference: str, who: str) -> int:
        """Queue a deletion job; its id. `run_deletion` does it."""
        subject = self.subject(reference)
        with self._connect() as conn:
            return open_request(
                conn, "delete", who, subject, self._hash(subject), "pending", keep_subject=True
            )

    def run_deletion(self, request_id: int) -> dict[str, Any]:
        """Run a pending deletion job to the end; the request as it ends (done or failed)."""
        with self._connect() as conn:
            reference = claim_request(conn, request_id)
            if reference is None:
                raise InvalidTransition(f"privacy request {request_id} is not a pending job")
            try:
                subject = self.subject(reference)
                first = self._suppress(conn, subject, request_id)
                detail = self._retrying(lambda: self._purge(conn, subject, request_id, first))
            except Exception as exc:
                log.exception("privacy deletion %s failed", request_id)
                finish_request(conn, request_id, "failed", error=f"{type(exc).__name__}: {exc}")
                REQUESTS.labels("delete", "failed").inc()
            else:
                REQUESTS.labels("delete", "done").inc()
                log.info("privacy deletion %s done: %s", request_id, detail)
            finally:
                with contextlib.suppress(psycopg.Error):  # a broken connection released it
                    release_request(conn, request_id)
            found = read_request(conn, request_id)
        assert found is not None
        return found

    def _suppress(self, conn: Connection[Any], subject: Identifier, request_id: int) -> int:
        with conn.transaction():
            person = find_person(conn, subject, self._pii)
            return add_suppressions(conn, self._hashes(subject, person), request_id)

    def _hashes(self, subject: Identifier, person: Person | None) -> set[str]:
        """Hashes of the subject and every identifier the person holds (not of a profile id:
        events carry none, and a new profile gets a new one). A stored identifier's hash is its
        match value; one stored in clear is hashed here."""
        hashes = {self._hash(subject)} if subject.type != PROFILE_ID else set()
        if person is not None:
            hashes |= {
                self._hash(i) if i in person.in_clear else i.value for i in person.identifiers
            }
        return hashes

    def _purge(
        self, conn: Connection[Any], subject: Identifier, request_id: int, suppressed: int
    ) -> dict[str, Any]:
        """Delete the person under the processor's locks; `suppressed` hashes were added
        before (any identifier attached since is suppressed here too)."""
        with conn.transaction():
            person = lock_person(conn, subject, self._pii)
            detail: dict[str, Any] = {"found": person is not None}
            more = add_suppressions(conn, self._hashes(subject, person), request_id)
            detail["suppressed"] = suppressed + more
            if person is not None:
                detail |= purge_person(
                    conn, person, self._codec, self._settings.topics.membership, self._pii
                )
            finish_request(conn, request_id, "done", detail)
        return detail

    def delete(self, reference: str, who: str) -> dict[str, Any]:
        """Queue and run a deletion job at once (the CLI's way)."""
        return self.run_deletion(self.request_deletion(reference, who))

    def run_pending(self) -> int:
        """Run every pending deletion job (e.g. ones an API process stopped before running),
        and finish every running one whose worker died (deletion is idempotent, so it runs
        again from the start); how many were run."""
        with self._connect() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM privacy_requests WHERE kind = 'delete' "
                    "AND status IN ('pending', 'running') ORDER BY id"
                ).fetchall()
            ]
        ran = 0
        for request_id in ids:
            try:
                self.run_deletion(request_id)
            except InvalidTransition:
                continue
            ran += 1
        return ran

    def suppress(self, reference: str, who: str) -> dict[str, Any]:
        """Stop collecting the person's events, keeping what is held; the request as done."""
        subject = self.subject(reference)
        with self._connect() as conn:
            request_id = open_request(conn, "suppress", who, subject, self._hash(subject))
            added = self._suppress(conn, subject, request_id)
            finish_request(conn, request_id, "done", {"suppressed": added})
            REQUESTS.labels("suppress", "done").inc()
            found = read_request(conn, request_id)
        assert found is not None
        return found

    def consent(
        self, reference: str, purpose: str, granted: bool, at: datetime | None, who: str
    ) -> dict[str, Any]:
        """Record a consent decision (at `at`, default now); `SubjectNotFound` if nobody holds
        the identifier."""
        subject = self.subject(reference)
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        at_ms = int((at.timestamp() if at else time.time()) * 1000)
        with self._connect() as conn:
            request_id = open_request(conn, "consent", who, subject, self._hash(subject))

            def fold() -> dict[str, Any] | None:
                with conn.transaction():
                    person = lock_person(conn, subject, self._pii)
                    if person is None:
                        return None
                    return record_consent(
                        conn,
                        person,
                        purpose,
                        granted,
                        at_ms,
                        self._codec,
                        self._settings.topics.membership,
                    )

            outcome = self._retrying(fold)
            detail = {"purpose": purpose, "granted": granted}
            if outcome is None:
                finish_request(conn, request_id, "failed", detail, error="not_found")
                REQUESTS.labels("consent", "not_found").inc()
                raise SubjectNotFound(f"no profile holds {subject.type}:…")
            finish_request(conn, request_id, "done", {**detail, "applied": outcome["applied"]})
            REQUESTS.labels("consent", "done").inc()
        return {"request_id": str(request_id), **outcome}

    def status(self, request_id: int) -> dict[str, Any] | None:
        with self._connect() as conn:
            return read_request(conn, request_id)

    def suppressed_count(self, reference: str | None = None) -> int:
        """Events dropped as suppressed: for one identifier, or in all."""
        digest = self._hash(self.subject(reference)) if reference else None
        with self._connect() as conn:
            return suppressed_events(conn, digest)
