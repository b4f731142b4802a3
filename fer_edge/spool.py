"""A bounded first-in first-out queue of messages on disk (SQLite, in the standard library).

Every MQTT message goes through it: appended as it is made, sent in order, removed once the broker
acknowledged it. So a broker that is down, a network that drops, even a process that is killed lose
nothing within the bounds: what is left is sent at the next connection (or the next start). Past the
bounds the oldest messages go first, and :attr:`Spool.dropped` counts them.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0)"""


class SpoolError(ValueError):
    """The spool file cannot be used (not a fer-edge spool, not writable)."""


class Spool:
    """``append`` from any thread; ``peek``/``remove`` from the sender.

    Args:
        path: the SQLite file (made with its folder); ``":memory:"`` keeps it in memory (tests).
        max_messages, max_bytes: the bounds; past either the oldest messages are dropped.
    """

    def __init__(self, path, max_messages: int = 10_000, max_bytes: int = 50 * 1024 * 1024):
        if max_messages < 1 or max_bytes < 1:
            raise ValueError(f"spool bounds must be positive, got {max_messages} messages, {max_bytes} bytes")
        self.path, self.max_messages, self.max_bytes = str(path), max_messages, max_bytes
        self.dropped = 0
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
            self._count, self._bytes = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM messages").fetchone()
        except (sqlite3.Error, OSError) as e:
            raise SpoolError(f"{self.path}: cannot be used as the message spool ({e})") from None

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def append(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Queue one message; drops the oldest ones when a bound is passed."""
        with self._lock:
            self._db.execute("INSERT INTO messages (topic, payload, retain) VALUES (?, ?, ?)",
                             (topic, payload, int(retain)))
            self._count += 1
            self._bytes += len(payload)
            if self._count > self.max_messages or self._bytes > self.max_bytes:
                self._trim()

    def _trim(self) -> None:
        while self._count > self.max_messages or (self._bytes > self.max_bytes and self._count > 1):
            over = max(1, self._count - self.max_messages)
            rows = self._db.execute("SELECT id, LENGTH(payload) FROM messages ORDER BY id LIMIT ?",
                                    (over,)).fetchall()
            self._db.execute("DELETE FROM messages WHERE id <= ?", (rows[-1][0],))
            self._count -= len(rows)
            self._bytes -= sum(n for _, n in rows)
            self.dropped += len(rows)

    def peek(self, after_id: int = 0, limit: int = 20) -> list[tuple[int, str, bytes, bool]]:
        """The oldest ``limit`` messages after ``after_id``: ``(id, topic, payload, retain)``."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload, retain FROM messages WHERE id > ? ORDER BY id "
                                    "LIMIT ?", (after_id, limit)).fetchall()
        return [(i, t, bytes(p), bool(r)) for i, t, p, r in rows]

    def remove(self, message_id: int) -> None:
        """Forget a message the broker acknowledged."""
        with self._lock:
            row = self._db.execute("SELECT LENGTH(payload) FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
                self._count -= 1
                self._bytes -= row[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
