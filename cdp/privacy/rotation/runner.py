"""Running rotations: chunk after chunk, each in a short transaction of its own, resumably.

Where a rotation stands is its row's `progress` (step, cursor, pass, values moved per table),
written in the transaction of each chunk: a runner that dies loses at most the chunk in hand,
which rolled back with it, and any runner (the scheduler service's, or `cdp keys
rotate-data-key --wait` in the foreground) carries on from the row. Every chunk locks that row
first, so two runners take turns instead of racing.

A rotation passes over every table that can hold a sealed value (`steps.ROTATE_STEPS`), then
counts what is left under another key (`census`). Rows a processor batch held during the pass
were skipped, so it passes again until nothing is left; values under a key the runner does not
have, or values under an old key that keep appearing after `MAX_PASSES` (a processor still
configured with the old active key), fail it with the reason in its row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from psycopg import Connection
from psycopg.types.json import Jsonb

from cdp.errors import CdpError
from cdp.privacy.keystate import hash_check, pii_codec
from cdp.privacy.rotation.census import CLEAR, census, not_under
from cdp.privacy.rotation.errors import RotationFailed
from cdp.privacy.rotation.steps import (
    CHUNK_BLOCKS,
    CHUNK_ROWS,
    CONVERT_STEPS,
    ROTATE_STEPS,
    STEPS,
    Work,
)
from cdp.schemas import codec_for
from cdp.settings import Settings

__all__ = ["MAX_PASSES", "RotationRunner", "summary"]

log = logging.getLogger(__name__)

#: Passes over every table before values still under an old key fail the rotation. A pass
#: only leaves rows that a processor batch held at that moment (well under a second), so a
#: few passes suffice; more mean something keeps writing under the old key.
MAX_PASSES = 8
#: Database errors in a row (other than a lost connection, which the caller handles) after
#: which a rotation fails: a deadlock or a partition dropped meanwhile passes on a retry.
MAX_ERRORS = 5
#: Pause before a further pass, so that the batches that held rows have committed.
PASS_PAUSE_S = 0.5
FINISH_CONVERSION = "finish_conversion"
VERIFY = "verify"


def _plan(mode: str) -> list[str]:
    convert = [*CONVERT_STEPS, FINISH_CONVERSION] if mode == "convert" else []
    return [*convert, *ROTATE_STEPS, VERIFY]


class RotationRunner:
    """Works on the oldest queued or running rotation, `step` by `step`."""

    def __init__(
        self, settings: Settings, chunk_rows: int = CHUNK_ROWS, chunk_blocks: int = CHUNK_BLOCKS
    ) -> None:
        self._settings = settings
        self._errors = 0
        self._active = settings.privacy.data_key_id
        self._work = (
            Work(pii_codec(settings), codec_for(settings), chunk_rows, chunk_blocks)
            if settings.privacy.encrypt_pii
            else None
        )

    def step(self, conn: Connection[Any], budget_s: float = 1.0) -> bool:
        """Chunks of the oldest pending rotation for about `budget_s` (`conn` in autocommit);
        True when one is under way and more remains (call again soon)."""
        deadline = time.monotonic() + budget_s
        while True:
            try:
                busy = self._chunk(conn)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                self._errors += 1
                if self._errors >= MAX_ERRORS:
                    self._errors = 0
                    self._fail(conn, f"{MAX_ERRORS} chunks in a row failed, the last with: {exc}")
                    return False
                log.warning("rotation: %s; trying again", exc)
                return True
            self._errors = 0
            if not busy or time.monotonic() >= deadline:
                return busy

    def run(
        self,
        conn: Connection[Any],
        rotation_id: int,
        report: Callable[[dict[str, Any]], None] = lambda _: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> str:
        """Run until rotation `rotation_id` is done or failed (its status), reporting its
        progress about every second."""
        while not should_stop():
            busy = self.step(conn)
            row = conn.execute(
                "SELECT status, progress FROM data_key_rotations WHERE id = %s", (rotation_id,)
            ).fetchone()
            if row is None:
                raise RotationFailed(f"rotation {rotation_id} does not exist")
            report(row[1])
            if row[0] not in ("queued", "running"):
                return str(row[0])
            if not busy:
                time.sleep(PASS_PAUSE_S)
        return "running"

    def _chunk(self, conn: Connection[Any]) -> bool:
        """One chunk of the oldest pending rotation in one transaction; False when none is
        pending or it must wait (a pause between passes)."""
        try:
            with conn.transaction():
                row = conn.execute(
                    "SELECT id, key_id, status, progress FROM data_key_rotations "
                    "WHERE status IN ('queued', 'running') ORDER BY id LIMIT 1 FOR UPDATE"
                ).fetchone()
                if row is None:
                    return False
                rotation_id, key_id, status, progress = row
                if float(progress.get("not_before", 0)) > time.time():
                    return False
                progress = self._advance(conn, key_id, status, dict(progress))
                conn.execute(
                    "UPDATE data_key_rotations SET progress = %s, status = %s, "
                    "started_at = coalesce(started_at, now()), "
                    "finished_at = CASE WHEN %s = 'done' THEN now() END WHERE id = %s",
                    (Jsonb(progress), progress["status"], progress["status"], rotation_id),
                )
                if progress["status"] == "done":
                    log.info("rotation %s to key %r done: %s", rotation_id, key_id, progress)
                return True
        except CdpError as exc:
            self._fail(conn, str(exc))
            return False

    def _fail(self, conn: Connection[Any], reason: str) -> None:
        with conn.transaction():
            conn.execute(
                "UPDATE data_key_rotations SET status = 'failed', error = %s, finished_at = now() "
                "WHERE id = (SELECT id FROM data_key_rotations WHERE status IN ('queued', 'running') "
                "ORDER BY id LIMIT 1)",
                (reason,),
            )
        log.error("rotation failed: %s", reason)

    def _advance(
        self, conn: Connection[Any], key_id: str, status: str, progress: dict[str, Any]
    ) -> dict[str, Any]:
        """`progress` after the next chunk of work (with the status it leads to)."""
        work = self._work
        if work is None:
            raise RotationFailed("PII encryption is off in this runner's settings")
        if key_id != self._active:
            raise RotationFailed(
                f"the rotation moves values to data key {key_id!r}, but this runner's "
                f"CDP_PRIVACY__DATA_KEY_ID is {self._active!r}"
            )
        if status == "queued" or "step" not in progress:
            plan = _plan(str(progress.get("mode", "rotate")))
            progress.update(plan=plan, step=plan[0], cursor=None, **{"pass": 1}, moved={})
        progress["status"] = "running"
        step = str(progress["step"])
        if step == FINISH_CONVERSION:
            self._finish_conversion(conn)
            return _next_step(progress)
        if step == VERIFY:
            return self._verify(conn, progress)
        cursor, moved = STEPS[step](conn, work, progress.get("cursor"))
        table = step.removeprefix("convert_")
        progress["moved"][table] = int(progress["moved"].get(table, 0)) + moved
        if cursor is None:
            return _next_step(progress)
        progress["cursor"] = cursor
        return progress

    def _finish_conversion(self, conn: Connection[Any]) -> None:
        """Mark the database encrypted once no identifier is left in clear (the check and the
        flag in one transaction, identifiers locked against inserts meanwhile)."""
        conn.execute("LOCK TABLE identifiers IN SHARE MODE")
        row = conn.execute("SELECT count(*) FROM identifiers WHERE key_id IS NULL").fetchone()
        if row and row[0]:
            raise RotationFailed(
                f"{row[0]} identifiers were written in clear during the conversion: stop every "
                "processor still running with CDP_PRIVACY__ENCRYPT_PII=false and request again"
            )
        conn.execute(
            "INSERT INTO pii_state (id, encrypted, hash_check) VALUES (1, true, %s) "
            "ON CONFLICT (id) DO UPDATE SET encrypted = true, hash_check = EXCLUDED.hash_check, "
            "updated_at = now()",
            (hash_check(self._settings),),
        )

    def _verify(self, conn: Connection[Any], progress: dict[str, Any]) -> dict[str, Any]:
        left = not_under(census(conn), self._active)
        progress["left"] = left
        if not left:
            progress["status"] = "done"
            return progress
        assert self._work is not None
        if CLEAR in left:
            raise RotationFailed(
                f"{left[CLEAR]} identifiers are stored in clear in a database marked encrypted "
                "(pii_state): was a processor run with CDP_PRIVACY__ENCRYPT_PII=false?"
            )
        unknown = sorted(set(left) - self._work.ring.key_ids)
        if unknown:
            raise RotationFailed(
                f"values under data key(s) {', '.join(unknown)} that are not configured "
                "(CDP_PRIVACY__DATA_KEYS): add them to read and move those values"
            )
        if int(progress["pass"]) >= MAX_PASSES:
            raise RotationFailed(
                f"values under old keys keep appearing after {MAX_PASSES} passes ({left}): "
                f"is every processor configured with CDP_PRIVACY__DATA_KEY_ID={self._active}?"
            )
        progress.update(
            step=ROTATE_STEPS[0], cursor=None, not_before=time.time() + PASS_PAUSE_S,
            **{"pass": int(progress["pass"]) + 1},
        )  # fmt: skip
        return progress


def _next_step(progress: dict[str, Any]) -> dict[str, Any]:
    plan = list(progress["plan"])
    progress["step"] = plan[plan.index(progress["step"]) + 1]
    progress["cursor"] = None
    return progress


def summary(progress: dict[str, Any]) -> str:
    """One line on where a rotation stands."""
    moved = ", ".join(f"{t} {n:,}" for t, n in progress.get("moved", {}).items() if n)
    return orjson.dumps({k: progress.get(k) for k in ("step", "pass")}).decode() + (
        f" moved: {moved}" if moved else ""
    )
