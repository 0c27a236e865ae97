"""The state snapshot and its journal on disk.

Snapshot writes are atomic (temp file, fsync, rename, fsync the folder), keep the previous
snapshot as `<name>.backup`, and compare-and-swap: the file on disk must still carry the lineage
and serial this process loaded, or the write is refused. Journal lines are appended; a `pending`
line is fsynced before its request is sent.

The snapshot, its backup and the journal are ipass's own files: a symbolic link, folder, device
or pipe in the place of any of them, or a link standing for the state folder, is refused with
its path (`StorageError`, exit 3) before anything is written, never followed or replaced.

A read whose bytes passed every check before (their digest is in the mark kept by
`statemark.py`) skips the checks; writing a snapshot marks it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from pydantic import ValidationError

from reconciler.adapters.files import (
    ensure_folder,
    fsync_dir,
    refuse_unless_regular,
    remove_stale_temp_files,
    write_atomic,
)
from reconciler.adapters.statekeys import journal_path_for
from reconciler.adapters.statemark import record, vouches
from reconciler.domain.canonical import sha256_hex
from reconciler.domain.events import EventLine, StateEvent, replay
from reconciler.domain.jsonsafe import JsonSyntaxError, StrictJsonError, check_strict
from reconciler.domain.state import (
    State,
    check_payloads,
    new_state,
    parse_state,
    state_bytes,
)
from reconciler.errors import ConflictError, InvalidInput, StorageError


@dataclass
class StateStore:
    """One environment's snapshot (`<env>.json`) and journal (`<env>.journal.jsonl`)."""

    path: Path
    environment: str
    # Where the digest of checked bytes is kept (None: every read checks everything).
    verified_mark: Path | None = None
    _journal: IO[bytes] | None = field(default=None, init=False, repr=False)
    # Lineage, serial and SHA-256 of the snapshot this store last read or wrote.
    _known: tuple[str, int, str] | None = field(default=None, init=False, repr=False)
    # The snapshot whose every record this store has checked (read whole, or marked).
    _checked: State | None = field(default=None, init=False, repr=False, compare=False)
    # Held while a journal line is written; `abandon` keeps it, so nothing more is written.
    _writing: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def journal_path(self) -> Path:
        return journal_path_for(self.path)

    @property
    def backup_path(self) -> Path:
        return self.path.with_name(self.path.name + ".backup")

    def read(self) -> State | None:
        """The snapshot as written, or None when there is none yet (a link is refused)."""
        data = self._read_bytes()
        return None if data is None else self._parsed(data)

    def _read_bytes(self) -> bytes | None:
        refuse_unless_regular(self.path)
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ConflictError(f"cannot read state file {self.path}: {error}") from None

    def _parsed(self, data: bytes) -> State:
        digest = sha256_hex(data)
        marked = vouches(self.verified_mark, digest)
        state = parse_state(
            data, where=str(self.path), environment=self.environment, verified=marked
        )
        if not marked:
            record(self.verified_mark, digest)
        self._known = (state.lineage, state.serial, digest)
        self._checked = state
        return state

    def load(self) -> State:
        """Snapshot plus journal: the current state (a fresh one if nothing exists yet)."""
        return self.load_with_snapshot()[1]

    def load_with_snapshot(self) -> tuple[State | None, State]:
        """The snapshot as written (None if there is none) and the current state over it."""
        snapshot = self.read()
        return snapshot, self._replayed(snapshot)

    def _replayed(self, snapshot: State | None) -> State:
        events = self.read_journal()
        if snapshot is None:
            if not events:
                return new_state(self.environment)
            first = events[0]
            snapshot = new_state(self.environment).model_copy(
                update={"lineage": first.lineage, "serial": first.base_serial}
            )
        return replay(snapshot, events)

    def read_journal(self) -> list[StateEvent]:
        """Every complete journal line; a torn last line (a crash mid-write) is ignored.

        Each line is checked by the strict JSON reader first: a key twice (or `NaN`, a fraction,
        a huge number) is refused, never settled by its last value.
        """
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            return []
        lines = raw.split(b"\n")
        events = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                check_strict(line.decode("utf-8"))
                events.append(EventLine.model_validate_json(line).event)
            except (UnicodeDecodeError, StrictJsonError, ValidationError) as error:
                if number == len(lines):  # unterminated last line: never fsynced, never acted on
                    break
                problem = "is corrupt"
                if isinstance(error, StrictJsonError) and not isinstance(error, JsonSyntaxError):
                    problem = error.problem  # a key twice, NaN, ...: edited by hand or damaged
                raise ConflictError(
                    f"journal {self.journal_path} line {number} {problem}",
                    hint="inspect it by hand; the state snapshot itself is unchanged",
                ) from None
        return events

    def append(self, event: StateEvent, *, durable: bool) -> None:
        """Append one event; `durable` fsyncs it (and every line before it) to disk.

        A failed write raises `StorageError` (exit 3); apply then sends nothing for this event.
        """
        line = EventLine(event=event).model_dump_json().encode("utf-8") + b"\n"
        with self._writing:
            try:
                handle = self._open_journal()
                handle.write(line)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            except OSError as error:
                raise StorageError.refused(self.journal_path, "write the journal", error) from None

    def _open_journal(self) -> IO[bytes]:
        if self._journal is None:
            self.check_own_files()
            created = not self.journal_path.exists()
            if not created:
                self._drop_torn_tail()
            # Never through a symbolic link: the journal is ours, beside the state file.
            self._journal = os.fdopen(os.open(self.journal_path, _APPEND, 0o644), "ab")
            if created:
                fsync_dir(self.path.parent)
        return self._journal

    def _drop_torn_tail(self) -> None:
        """Cut an unterminated last line (a crash mid-write) so the next line starts clean.

        That line was never completely written, so nothing was sent on its strength.
        """
        with os.fdopen(os.open(self.journal_path, _REWRITE), "r+b") as handle:
            data = handle.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())

    def recover(self, state: State, *, loaded: State | None) -> None:
        """Absorb a journal left by an interrupted run, when this run has nothing else to write.

        Creates recorded only in the journal must reach the snapshot (the file committed to git);
        a journal whose events the snapshot already holds is simply removed.
        """
        if not self.journal_path.exists():
            return
        if state != (loaded if loaded is not None else new_state(self.environment)):
            self.checkpoint(state, loaded=loaded)
        else:
            self._truncate_journal()

    def checkpoint(self, state: State, *, loaded: State | None) -> State:
        """Write `state` as the new snapshot (serial + 1) and clear the journal it absorbed.

        `loaded` is the snapshot this process started from (None: there was none); if the file
        on disk has moved since, nothing is written.
        """
        self.check_own_files()  # before the backup is written from the snapshot's bytes
        data, on_disk = self._on_disk(loaded)
        self._check_unmoved(on_disk, loaded)
        remove_stale_temp_files(self.path.parent, (self.path.name, self.backup_path.name))
        written = state.model_copy(update={"serial": state.serial + 1})
        # Only records that are not the loaded snapshot's own (checked when it was read) are
        # hashed; should one not match (a hand-edited journal line), the file is written as
        # before but not marked, so the next read checks it whole and refuses it, naming it.
        since = loaded if loaded is not None and loaded is self._checked else None
        try:
            check_payloads(written, where=str(self.path), since=since)
            checked = True
        except ConflictError:
            checked = False
        new = state_bytes(written)
        if data is not None:
            write_atomic(self.backup_path, data)
        write_atomic(self.path, new)
        digest = sha256_hex(new)
        self._known = (written.lineage, written.serial, digest)
        self._checked = written if checked else None
        if checked:
            record(self.verified_mark, digest)
        self._truncate_journal()
        return written

    def _on_disk(self, loaded: State | None) -> tuple[bytes | None, State | None]:
        """The snapshot's bytes now, and what they hold: the bytes this store last read or
        wrote need no parsing again (their digest says they are the snapshot `loaded`)."""
        data = self._read_bytes()
        if data is None:
            return None, None
        if loaded is not None and self._known == (loaded.lineage, loaded.serial, sha256_hex(data)):
            return data, loaded
        return data, self._parsed(data)

    def _check_unmoved(self, on_disk: State | None, loaded: State | None) -> None:
        if on_disk is None and loaded is None:
            return
        if on_disk is None or loaded is None:
            raise ConflictError(
                f"state file {self.path} appeared or vanished while ipass was running",
                hint="another process is writing this environment's state; re-run the plan",
            )
        if on_disk.lineage != loaded.lineage:
            raise ConflictError(
                f"state file {self.path} now has lineage {on_disk.lineage}, not {loaded.lineage}",
                hint="it was replaced by another state; re-run the plan against it",
            )
        if on_disk.serial != loaded.serial:
            raise ConflictError(
                f"state file {self.path} moved to serial {on_disk.serial} "
                f"(this run started from {loaded.serial})",
                hint="another apply wrote it; re-run the plan",
            )

    def _truncate_journal(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)
        fsync_dir(self.path.parent)

    def close(self) -> None:
        with self._writing:
            self._close_journal()

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def abandon(self, *, wait: float = 2.0) -> None:
        """Write nothing more, for a process about to end at once (a second Ctrl-C).

        A journal line being written is let finish (for at most `wait` seconds) and every line
        is flushed to disk; the journal stays as it is, for the next run to recover from, and
        any later write waits until the process is gone.
        """
        if not self._writing.acquire(timeout=wait):
            return  # a write that cannot finish: the next run drops a torn last line
        if self._journal is not None:
            with contextlib.suppress(OSError, ValueError):
                self._journal.flush()
                os.fsync(self._journal.fileno())

    def check_own_files(self) -> None:
        """Refuse a link for the state folder and a link or non-file for the snapshot, its backup
        or the journal (creating the folder if it is missing)."""
        ensure_folder(self.path.parent)
        for path in (self.path, self.backup_path, self.journal_path):
            refuse_unless_regular(path)

    def ensure_space(self, *, creates: int, body_bytes: int) -> None:
        """Refuse, before anything is journaled or sent, when the state folder lacks the room
        that `creates` request bodies of `body_bytes` in all need: a `pending` and an outcome line
        each in the journal, and a new snapshot (and its backup) holding them."""
        if creates <= 0:
            return
        current = _size_of(self.path)
        needed = 2 * body_bytes + creates * _PER_CREATE + 2 * current + _SPACE_MARGIN
        folder = self.path.parent
        try:
            info = os.statvfs(folder)
        except OSError as error:
            raise StorageError.refused(folder, "check the free space", error) from None
        free = info.f_bavail * info.f_frsize
        if free < needed:
            raise StorageError(
                f"{folder}: not enough free space to record this apply: {_bytes(free)} free, "
                f"about {_bytes(needed)} needed for the journal and the new snapshot; "
                "nothing was sent",
                hint="free some disk space, then run the command again",
            )


# Room per create beyond its body: the event fields of its two journal lines, its record and
# its notes in the snapshot. The margin keeps the disk from being filled to the last byte.
_PER_CREATE: Final = 4096
_SPACE_MARGIN: Final = 1 << 20
_APPEND: Final = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_REWRITE: Final = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC


def _size_of(path: Path) -> int:
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0
    except OSError as error:
        raise StorageError.refused(path, "read", error) from None


def _bytes(count: int) -> str:
    """1.5 MiB, 640 KiB, 512 bytes: what a person compares with `df -h`."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def ensure_writable(folder: Path, *, root: Path | None = None) -> None:
    """Fail before any API call when the state folder cannot be written.

    The folder is ipass's own: a link standing for it (or, given the project folder `root`, for
    any folder between the two) is refused (`StorageError`, exit 3).
    """
    ensure_folder(folder, below=root)
    if not os.access(folder, os.W_OK):
        raise InvalidInput(
            f"state folder {folder} is not writable",
            hint="apply must record every template it creates; fix the permissions first",
        )
