"""The state snapshot and its journal on disk.

Snapshot writes are atomic (temp file, fsync, rename, fsync the folder), keep the previous
snapshot as `<name>.backup`, and compare-and-swap: the file on disk must still carry the lineage
and serial this process loaded, or the write is refused. Journal lines are appended; a `pending`
line is fsynced before its request is sent.

The snapshot, its backup and the journal are ipass's own files: a symbolic link, folder, device
or pipe in the place of any of them, or a link standing for the state folder, is refused with
its path (`StorageError`, exit 3) before anything is written, never followed or replaced.
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
from reconciler.domain.events import EventLine, StateEvent, replay
from reconciler.domain.jsonsafe import JsonSyntaxError, StrictJsonError, check_strict
from reconciler.domain.state import State, new_state, parse_state, state_text
from reconciler.errors import ConflictError, InvalidInput, StorageError


@dataclass
class StateStore:
    """One environment's snapshot (`<env>.json`) and journal (`<env>.journal.jsonl`)."""

    path: Path
    environment: str
    _journal: IO[bytes] | None = field(default=None, init=False, repr=False)
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
        refuse_unless_regular(self.path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise ConflictError(f"cannot read state file {self.path}: {error}") from None
        return parse_state(text, where=str(self.path), environment=self.environment)

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
        on_disk = self.read()
        self._check_unmoved(on_disk, loaded)
        remove_stale_temp_files(self.path.parent, (self.path.name, self.backup_path.name))
        written = state.model_copy(update={"serial": state.serial + 1})
        if on_disk is not None:
            write_atomic(self.backup_path, self.path.read_bytes())
        write_atomic(self.path, state_text(written).encode("utf-8"))
        self._truncate_journal()
        return written

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
