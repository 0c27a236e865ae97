"""`ipass init`: scaffold a catalog repository that validates, plans and runs its pipeline.

It never overwrites: a path that exists (a file, a folder, a link) is left as it is and reported
as skipped. It never writes through a symbolic link: the target folder and every folder on the
way must be real folders (checked for all files before anything is written), each folder is
opened without following links, and each file is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, so a
link or a file that appears meanwhile is skipped, never written through.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Final

from reconciler import __version__
from reconciler.errors import InvalidInput
from reconciler.usecases.schemas import generated_schemas

VERSION_MARK: Final = b"@IPASS_VERSION@"
_RENAMED: Final = {"gitignore": ".gitignore"}
_FOLDER: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class ScaffoldFile:
    path: PurePosixPath  # relative to the new repository
    data: bytes


@dataclass(frozen=True)
class InitReport:
    root: Path
    written: tuple[PurePosixPath, ...]
    skipped: tuple[PurePosixPath, ...]


def scaffold_files(version: str = __version__) -> list[ScaffoldFile]:
    """The files of a new catalog repository, pinned to ipass `version`, sorted by path."""
    tree = resources.files("reconciler.scaffold").joinpath("files")
    found = [
        ScaffoldFile(path, item.read_bytes().replace(VERSION_MARK, version.encode("ascii")))
        for path, item in _walk(tree, PurePosixPath())
    ]
    # The JSON Schemas the catalog files name in their yaml-language-server lines: an editor
    # completes fields and flags errors with no setup.
    found += [
        ScaffoldFile(PurePosixPath("schemas") / name, text.encode("utf-8"))
        for name, text in generated_schemas().items()
    ]
    return sorted(found, key=lambda file: file.path.parts)


def _walk(folder: Traversable, under: PurePosixPath) -> Iterator[tuple[PurePosixPath, Traversable]]:
    for item in folder.iterdir():
        if item.name == "__pycache__":
            continue
        if item.is_dir():
            yield from _walk(item, under / item.name)
        else:
            yield under / _RENAMED.get(item.name, item.name), item


def init_project(root: Path, files: Sequence[ScaffoldFile]) -> InitReport:
    """Write `files` under `root` (created if missing), skipping every path that exists."""
    _prepare_root(root)
    problems = sorted({problem for file in files for problem in _folder_problems(root, file.path)})
    if problems:
        raise InvalidInput(
            f"{'; '.join(problems)}: ipass init writes only into real folders; nothing was written",
            hint="replace the link with a folder, or choose another target folder",
        )
    written: list[PurePosixPath] = []
    skipped: list[PurePosixPath] = []
    root_fd = _open_folder(root)
    try:
        for file in files:
            (written if _create(root, root_fd, file) else skipped).append(file.path)
    finally:
        os.close(root_fd)
    return InitReport(root, tuple(written), tuple(skipped))


def _prepare_root(root: Path) -> None:
    try:
        info = root.lstat()
    except FileNotFoundError:
        try:
            root.mkdir(parents=True)
        except OSError as error:
            raise InvalidInput.refused(root, "create the folder", error) from None
        return
    except OSError as error:
        raise InvalidInput.refused(root, "inspect", error) from None
    if stat.S_ISLNK(info.st_mode):
        raise InvalidInput(
            f"{root}: is a symbolic link; ipass init writes only into a real folder",
            hint="give the folder the link points to, if that is the one you mean",
        )
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"{root}: is not a folder", hint="give ipass init a folder")


def _folder_problems(root: Path, path: PurePosixPath) -> Iterator[str]:
    """Each folder on the way to `path` that exists as something other than a real folder."""
    folder = root
    for name in path.parts[:-1]:
        folder = folder / name
        try:
            mode = folder.lstat().st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            yield f"{folder}: is a symbolic link"
            return
        if not stat.S_ISDIR(mode):
            yield f"{folder}: is not a folder"
            return


def _open_folder(path: Path, *, dir_fd: int | None = None) -> int:
    try:
        return os.open(path, _FOLDER, dir_fd=dir_fd)
    except OSError as error:
        raise InvalidInput.refused(
            path, "open the folder (a link is never followed)", error
        ) from None


def _create(root: Path, root_fd: int, file: ScaffoldFile) -> bool:
    """Create one file; False when its path is taken (by anything, a link included)."""
    fd = os.dup(root_fd)
    folder = root
    try:
        for name in file.path.parts[:-1]:
            folder = folder / name
            try:
                os.mkdir(name, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            except OSError as error:
                raise InvalidInput.refused(folder, "create the folder", error) from None
            child = _open_folder(Path(name), dir_fd=fd)
            os.close(fd)
            fd = child
        return _create_in(fd, root / file.path, file.data)
    finally:
        os.close(fd)


def _create_in(folder_fd: int, path: Path, data: bytes) -> bool:
    """Create `path` new, by its full path (as audit hooks see writes), then check it is the
    entry of the folder opened without links; a folder swapped meanwhile is refused."""
    try:
        fd = os.open(path, _NEW_FILE, 0o644)
    except FileExistsError:
        return False
    except OSError as error:
        raise InvalidInput.refused(path, "create", error) from None
    try:
        if not _same_file(fd, folder_fd, path.name):
            raise InvalidInput(
                f"{path}: a folder on the way was replaced while ipass init wrote it",
                hint="find out what else writes in this folder, then run ipass init again",
            )
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as error:
        raise InvalidInput.refused(path, "write", error) from None
    finally:
        os.close(fd)
    return True


def _same_file(fd: int, folder_fd: int, name: str) -> bool:
    try:
        listed = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (listed.st_dev, listed.st_ino) == (opened.st_dev, opened.st_ino)
