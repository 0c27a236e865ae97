"""Finding and reading a catalog's files: templates, shared variables, defaults and macros.

Anyone with a pull request can change the catalog, and the pipeline that reads it holds the
signing key, so its files and their names are hostile input. Nothing outside the catalog is read,
and nothing in it is skipped:

* Every symlink is refused, the catalog folder itself included, even a link pointing inside the
  catalog: following none is simpler to reason about than following some, and leaves nothing to
  re-point between a check and a read.
* Only folders and regular files are accepted. Named pipes, sockets and devices are refused from
  their directory entry or `lstat`, before anything opens them (a pipe would wait for a writer).
  Files are then opened with `O_NOFOLLOW | O_NONBLOCK` and checked again with `fstat`, so a file
  swapped for a link or a pipe after that check is refused too, and the size (1 MiB at most, the
  YAML loader's cap) is checked on what was opened, before it is read.
* A folder or file that cannot be read is a located problem, never an empty folder: a folder
  skipped silently would make its templates look deleted, and plan would retire them.
* Names must be UTF-8 (keys, plans and state are UTF-8 text). Names are shown relative to the
  project, bytes that are not UTF-8 as `\\xNN`, control and invisible characters escaped.

Hidden entries (`.git`, `.DS_Store`) and files without the suffix looked for are left alone.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from reconciler.domain.problems import FieldPath, Problem
from reconciler.domain.templating import PlainData
from reconciler.domain.text import printable
from reconciler.domain.yamlsafe import DEFAULT_MAX_BYTES, YamlDocument, YamlError, load_yaml_file

# Names ipass puts in every render context; variables may not take them.
CONTEXT_NAMES: Final = frozenset({"environment", "key", "each"})
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
YAML_SUFFIXES: Final = (".yaml", ".yml")
MACRO_SUFFIX: Final = ".j2"
MAX_MACRO_BYTES: Final = DEFAULT_MAX_BYTES

# What a name already is in templates ("a macro in <file>", ...), or None: `Renderer` knows.
ReservedMeaning = Callable[[str], str | None]
# What a name in the catalog is, never following a link; None when nothing is there.
Kind = Literal["link", "folder", "file", "other"]

NOT_PLAIN: Final = "not a regular file; the catalog holds plain files"  # the YAML loader's words
_LINK_OUT: Final = "symlink points outside the catalog"
_LINK_IN: Final = (
    "symlink refused: no link is followed, even within the catalog; "
    "put the real file or folder here"
)
_LINK_SWAPPED: Final = "symlink refused; put the file itself here"
_CATALOG_LINK: Final = "symlink refused: the catalog must be a folder, not a link to one"
_NOT_FOLDER: Final = "not a folder"
_BAD_NAME: Final = (
    "the name is not UTF-8 (its bytes are shown as \\xNN); rename it: keys, plans and state are "
    "UTF-8 text"
)
# A file opened by name must be the regular file seen when its name was checked.
_OPEN_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def display(path: Path, root: Path) -> str:
    """A path as users see it: relative to the project, bytes that are not UTF-8 as `\\xNN`,
    control and invisible characters escaped (`text.printable`)."""
    try:
        text = str(path.relative_to(root))
    except ValueError:
        text = str(path)
    return printable(_undecodable_as_bytes(text))


def _undecodable_as_bytes(text: str) -> str:
    # Python keeps each byte of a name that is not UTF-8 as a lone surrogate (U+DC80-U+DCFF):
    # show it as the byte it was on disk.
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # some other lone surrogate: `printable` shows it as \udXXX
        return text


def _is_utf8(name: str) -> bool:
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- the catalog folder and its named files --------------------------------------------------


def catalog_folder_exists(catalog_dir: Path, root: Path) -> bool:
    """False when there is no folder there; YamlError when it is a link or cannot be looked at."""
    catalog = _Catalog(catalog_dir, root)
    kind = catalog.kind_of(catalog_dir)
    if kind == "link":
        raise catalog.error(catalog_dir, _CATALOG_LINK)
    return kind == "folder"


def load_mapping(path: Path, root: Path) -> YamlDocument | None:
    """An optional YAML file of the catalog folder whose top level must be a mapping (or empty).

    Absent gives None; a link, a special file or a file that cannot be read is a YamlError.
    """
    catalog = _Catalog(path.parent, root)
    kind = catalog.kind_of(path)
    if kind is None:
        return None
    catalog.check(kind, path, folder=False)
    document = load_yaml_file(path, path=display(path, root))
    if document.data is not None and not isinstance(document.data, dict):
        raise YamlError(document.path, 1, 1, "the top level must be a mapping of names to values")
    return document


def load_variables(
    catalog_dir: Path, root: Path, environment: str, reserved: ReservedMeaning
) -> dict[str, PlainData]:
    """`vars.yaml` overlaid with `vars.<environment>.yaml`; names checked against `reserved`."""
    merged: dict[str, PlainData] = {}
    for name in ("vars.yaml", f"vars.{environment}.yaml"):
        document = load_mapping(catalog_dir / name, root)
        if document is None or not isinstance(document.data, dict):
            continue
        for var, value in document.data.items():
            check_var_name(document, (var,), var, reserved)
            merged[var] = value
    return merged


def load_macros(catalog_dir: Path, root: Path) -> dict[str, str]:
    """The text of each `macros/*.j2` by shown name, in name order; YamlError for the first
    entry refused. Subfolders and other files are not read."""
    catalog = _Catalog(catalog_dir, root)
    folder = catalog_dir / "macros"
    kind = catalog.kind_of(folder)
    if kind is None:
        return {}
    catalog.check(kind, folder, folder=True)
    sources: dict[str, str] = {}
    for entry in catalog.listing(folder):
        path = folder / entry.name
        kind = catalog.entry_kind(entry, path)
        if kind in ("file", "folder") and not entry.name.endswith(MACRO_SUFFIX):
            continue
        catalog.check(kind, path, folder=False)
        shown = display(path, root)
        sources[shown] = _read_macro(path, shown)
    return sources


def check_var_name(
    document: YamlDocument, path: FieldPath, name: str, reserved: ReservedMeaning
) -> None:
    """YamlError at the variable's line if `name` cannot be a variable (`var_name_refusal`)."""
    refusal = var_name_refusal(name, reserved)
    if refusal is not None:
        where = document.position_of(path)
        raise YamlError(document.path, where.line, where.column, refusal)


def var_name_refusal(name: str, reserved: ReservedMeaning) -> str | None:
    """Why `name` cannot be a variable (a bad name, or one templates already use), or None."""
    if not _VAR.match(name) or name in CONTEXT_NAMES:
        return (
            f"variable name {name!r} is not allowed: use letters, digits and _, "
            f"not one of {', '.join(sorted(CONTEXT_NAMES))}"
        )
    meaning = reserved(name)
    if meaning is not None:
        return f"variable name {name!r} is already {meaning}; choose another name"
    return None


# -- templates -------------------------------------------------------------------------------


def template_files(catalog_dir: Path, root: Path) -> tuple[list[Path], list[Problem]]:
    """Every template file, in `os.walk` order (a folder's files by name, then each subfolder
    by name, depth first), and a problem for each entry refused and each folder unreadable.

    Under `templates/` every entry but hidden ones must be a folder or a regular file, and YAML
    files and folders must have UTF-8 names; other regular files (a README) are left alone.
    """
    catalog = _Catalog(catalog_dir, root)
    base = catalog_dir / "templates"
    try:
        kind = catalog.kind_of(base)
        if kind is None:
            raise catalog.error(base, "no templates folder; create it and add files")
        catalog.check(kind, base, folder=True)
    except YamlError as error:
        return [], [_problem(error)]
    found: list[Path] = []
    problems: list[Problem] = []
    pending = [base]
    while pending:  # a stack, not recursion: folders may nest deeper than Python recurses
        folder = pending.pop()
        try:
            entries = catalog.listing(folder)
        except YamlError as error:
            problems.append(_problem(error))
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = folder / entry.name
            try:
                kind = catalog.entry_kind(entry, path)
                if kind == "file" and not entry.name.endswith(YAML_SUFFIXES):
                    continue
                catalog.check(kind, path, folder=kind == "folder")
            except YamlError as error:
                problems.append(_problem(error))
                continue
            (subfolders if kind == "folder" else found).append(path)
        pending.extend(reversed(subfolders))
    return found, problems


# -- the checks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalog:
    """Looking at names in the catalog folder without following links; paths shown from root."""

    folder: Path
    root: Path

    def error(self, path: Path, message: str) -> YamlError:
        return YamlError(display(path, self.root), 1, 1, message)

    def kind_of(self, path: Path) -> Kind | None:
        """What `path` is (`lstat`), or None when nothing is there."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self.error(path, _cannot_read("it", error)) from None
        if stat.S_ISLNK(mode):
            return "link"
        if stat.S_ISDIR(mode):
            return "folder"
        return "file" if stat.S_ISREG(mode) else "other"

    def listing(self, folder: Path) -> list[os.DirEntry[str]]:
        """A folder's entries by name, hidden ones left out; YamlError when it cannot be read."""
        try:
            with os.scandir(folder) as listing:
                entries = [entry for entry in listing if not entry.name.startswith(".")]
        except OSError as error:
            raise self.error(folder, _cannot_read("the folder", error)) from None
        entries.sort(key=lambda entry: entry.name)
        return entries

    def entry_kind(self, entry: os.DirEntry[str], path: Path) -> Kind:
        """What a listed entry is: from the listing itself on most file systems (no system call),
        else from `lstat`."""
        try:
            if entry.is_symlink():
                return "link"
            if entry.is_dir(follow_symlinks=False):
                return "folder"
            return "file" if entry.is_file(follow_symlinks=False) else "other"
        except OSError as error:
            raise self.error(path, _cannot_read("it", error)) from None

    def check(self, kind: Kind, path: Path, *, folder: bool) -> None:
        """YamlError unless `path` is a folder (`folder`) or else a regular file, with a UTF-8
        name."""
        reason: str | None = None
        if kind == "link":
            reason = self._link_refusal(path)
        elif kind != ("folder" if folder else "file"):
            reason = _NOT_FOLDER if folder else NOT_PLAIN
        elif not _is_utf8(path.name):
            reason = _BAD_NAME
        if reason is not None:
            raise self.error(path, reason)

    def _link_refusal(self, path: Path) -> str:
        """Every link is refused; the message says whether it leads out of the catalog too."""
        target = Path(os.path.realpath(path))
        if target.is_relative_to(os.path.realpath(self.folder)):
            return _LINK_IN
        return _LINK_OUT


def _read_macro(path: Path, shown: str) -> str:
    """A macro file's text: a regular file opened without following a link, size capped."""
    try:
        with open(path, "rb", opener=_open_no_follow) as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise YamlError(shown, 1, 1, NOT_PLAIN)
            _check_size(shown, status.st_size)
            data = handle.read(MAX_MACRO_BYTES + 1)
    except OSError as error:
        reason = _LINK_SWAPPED if error.errno == errno.ELOOP else _cannot_read("the file", error)
        raise YamlError(shown, 1, 1, reason) from None
    _check_size(shown, len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        column = len(data[line_start : error.start].decode("utf-8", "replace")) + 1
        raise YamlError(
            shown,
            data.count(b"\n", 0, error.start) + 1,
            column,
            f"not UTF-8 text (invalid byte 0x{data[error.start]:02x} at offset {error.start}); "
            "save the file as UTF-8",
        ) from None


def _open_no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | _OPEN_FLAGS)


def _check_size(shown: str, size: int) -> None:
    if size > MAX_MACRO_BYTES:
        raise YamlError(
            shown,
            1,
            1,
            f"file too large ({size:,} bytes; the limit is {MAX_MACRO_BYTES:,}); "
            "split it into smaller files",
        )


def _cannot_read(what: str, error: OSError) -> str:
    reason = error.strerror or type(error).__name__
    return f"cannot read {what} ({reason}); make it readable: ipass never skips what it cannot read"


def _problem(error: YamlError) -> Problem:
    return Problem(error.path, error.line, error.column, "", error.reason)
