"""Files that matter are replaced atomically: temp file in the same folder, fsync, rename, fsync.
Files written once (crash reports) are created new, private, and never through a link.

ipass never writes through a symbolic link nor replaces what is not a regular file: a link or a
folder, device or pipe where one of its own files belongs is refused with the path, and so is a
link standing for one of its own folders (`ensure_folder`).

Every failure to write is a `StorageError` naming the path and what the operating system said
(disk full, permission denied, read-only file system, ...), so the command line can tell the
user what to fix and exit with the state-conflict code: the write may not have happened.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import StorageError

_FOLDER_NO_LINK = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_NAME_ATTEMPTS = 100


def _temp_prefix(name: str) -> str:
    return f".{name}."


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never a mix.

    `durable=False` skips both fsyncs, for files that may be lost but must never be torn (a
    cache whose entries are checked when read): the rename alone is atomic.

    A symbolic link or anything but a regular file at `path` is refused, never replaced. The
    temp file is created exclusively (`mkstemp`: `O_CREAT|O_EXCL|O_NOFOLLOW`) beside `path`,
    so the rename stays in one file system and never writes through a link.
    """
    refuse_unless_regular(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError.refused(path.parent, "create the folder", error) from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise StorageError.refused(path.parent, "create a file in the folder", error) from None
    try:
        write_all(fd, data, mode, sync=durable)
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(error, OSError):
            raise StorageError.refused(path, "write", error) from None
        raise
    if durable:
        fsync_dir(path.parent)


def refuse_unless_regular(path: Path) -> None:
    """Raise `StorageError` unless `path` is absent or a regular file (a link is not followed)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise StorageError.refused(path, "write", error) from None
    if stat.S_ISLNK(info.st_mode):
        raise StorageError(
            f"{path}: is a symbolic link; ipass replaces this file and will not write over a link",
            hint="remove the link (ipass writes a regular file there), or point ipass at the "
            "real file",
        )
    if not stat.S_ISREG(info.st_mode):
        raise StorageError(
            f"{path}: is not a regular file (a folder, a device or a pipe); ipass will not "
            "replace it",
            hint="move it away, or give ipass the path of a file",
        )


def write_all(fd: int, data: bytes, mode: int, *, sync: bool = True) -> None:
    """Write `data` to `fd`, set its exact `mode` (the umask does not apply), fsync, close."""
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def ensure_folder(folder: Path, *, below: Path | None = None) -> None:
    """Create `folder` (and missing parents) as one of ipass's own folders.

    A symbolic link (or anything but a folder) standing for `folder` is refused, and so is one
    standing for any folder between `below` and `folder` when `folder` lies below it: a planted
    link must not send ipass's files somewhere else. Folders above `below` are the user's own.
    """
    for step in _own_folders(folder, below):
        try:
            info = step.lstat()
        except FileNotFoundError:
            break
        except OSError as error:
            raise StorageError.refused(step, "open the folder", error) from None
        if stat.S_ISLNK(info.st_mode):
            raise StorageError(
                f"{step}: is a symbolic link; ipass keeps its own files in a real folder here "
                "and does not follow a link",
                hint="replace the link with a folder (move what it points to into its place)",
            )
        if not stat.S_ISDIR(info.st_mode):
            raise StorageError(
                f"{step}: is not a folder; ipass keeps its own files here",
                hint="move it away, then run the command again",
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError.refused(folder, "create the folder", error) from None


def _own_folders(folder: Path, below: Path | None) -> list[Path]:
    """`folder` and the folders between `below` and it, outermost first."""
    if below is None or not folder.is_relative_to(below):
        return [folder]
    parts = folder.relative_to(below).parts
    if ".." in parts:
        return [folder]
    return [below.joinpath(*parts[: n + 1]) for n in range(len(parts))] or [folder]


def fsync_dir(folder: Path) -> None:
    """Make a rename durable: the folder's entry must reach the disk too."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise StorageError.refused(folder, "open the folder", error) from None
    try:
        os.fsync(fd)
    except OSError as error:
        raise StorageError.refused(folder, "flush the folder to disk", error) from None
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: Path, names: tuple[str, ...]) -> None:
    """Delete temp files a killed writer of these files left behind (call holding their lock)."""
    for name in names:
        for leftover in folder.glob(f"{_temp_prefix(name)}*.tmp"):
            try:
                leftover.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                raise StorageError.refused(leftover, "remove a stale temp file", error) from None


def create_private_file(
    root: Path, folders: Sequence[str], stem: str, suffix: str, data: bytes
) -> Path:
    """Write `data` to a new file `root/<folders...>/<stem><suffix>` with mode 0600; its path.

    Missing folders are created with mode 0700. Below `root` no link is followed: a symbolic
    link standing for a folder is refused (`O_NOFOLLOW`), the file is created exclusively
    (`O_CREAT|O_EXCL|O_NOFOLLOW`), so an existing file or link is never written through or
    replaced, and a name already taken makes the next one (`<stem>-1<suffix>`, ...) be tried.
    """
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise StorageError.refused(root, "open the folder", error) from None
    folder = root
    try:
        for name in folders:
            folder = folder / name
            child = _open_subfolder(fd, name, folder)
            os.close(fd)
            fd = child
        path, file_fd = _create_new(fd, folder, stem, suffix)
        try:
            write_all(file_fd, data, 0o600)
        except OSError as error:
            raise StorageError.refused(path, "write", error) from None
    finally:
        os.close(fd)
    return path


def _open_subfolder(parent_fd: int, name: str, folder: Path) -> int:
    """Open folder `name` in the folder `parent_fd` (creating it), never through a link."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        return os.open(name, _FOLDER_NO_LINK, dir_fd=parent_fd)
    except OSError as error:
        refused = StorageError.refused(folder, "open the folder", error)
    # Linux says ENOTDIR for a link to a folder opened with O_DIRECTORY|O_NOFOLLOW: say "link".
    with contextlib.suppress(OSError):
        if stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
            refused = StorageError.refused(folder, "open the folder", OSError(errno.ELOOP, name))
    raise refused


def _create_new(folder_fd: int, folder: Path, stem: str, suffix: str) -> tuple[Path, int]:
    """Create the first free name, by its full path (so that every open of a file for writing
    names it, as audit hooks see it), then check it is the entry of the folder checked above."""
    for attempt in range(_MAX_NAME_ATTEMPTS):
        name = f"{stem}-{attempt}{suffix}" if attempt else f"{stem}{suffix}"
        path = folder / name
        try:
            file_fd = os.open(path, _NEW_FILE, 0o600)
        except FileExistsError:
            continue
        except OSError as error:
            raise StorageError.refused(path, "create", error) from None
        if not _same_file(file_fd, folder_fd, name):
            os.close(file_fd)
            raise StorageError(
                f"{path}: a folder on the way was replaced while ipass created the file; "
                "nothing was written",
                hint="find out what else writes in this folder",
            )
        return path, file_fd
    raise StorageError(
        f"{folder}: {_MAX_NAME_ATTEMPTS} files named {stem}*{suffix} already exist",
        hint="move old files out of this folder",
    )


def _same_file(file_fd: int, folder_fd: int, name: str) -> bool:
    try:
        listed = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except OSError:
        return False
    opened = os.fstat(file_fd)
    return (listed.st_dev, listed.st_ino) == (opened.st_dev, opened.st_ino)
