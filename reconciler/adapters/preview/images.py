"""Image files for the preview's checks: from a local folder, or fetched over https.

Each source hands back `ImageFacts` (pixel size, weight, or why the file could not be read); the
domain turns them into problems. Pillow reads only the header for the size, and a file it cannot
decode is a problem to show, never a crash.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import unquote, urlsplit

from reconciler.domain.preview import ImageFacts

if TYPE_CHECKING:
    import requests

MAX_IMAGE_BYTES: Final = 1_000_000  # read at most this much of one file; AlipayHK takes < 100 KB
FETCH_TIMEOUT: Final = (5.0, 10.0)  # seconds to connect, seconds between bytes
_CHUNK: Final = 64 * 1024


class ImageSource(Protocol):
    def inspect(self, urls: Iterable[str]) -> Mapping[str, ImageFacts]:
        """Facts for each URL (one entry per URL given)."""
        ...


def facts_of(url: str, data: bytes, *, total: int | None = None) -> ImageFacts:
    """Pixel size and weight of an image's bytes; an unreadable file gives an `error`."""
    from PIL import Image, UnidentifiedImageError

    size = total if total is not None else len(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                image.verify()  # reads the whole file: a truncated or corrupt one fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return ImageFacts(url, size_bytes=size, error=f"not a readable image ({error})")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return ImageFacts(url, size_bytes=size, error="not a readable image (too many pixels)")
    return ImageFacts(url, width, height, size)


def basename_of(url: str) -> str | None:
    """The file name at the end of the URL's path (`.../coffee-350.png` -> `coffee-350.png`)."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    name = PurePosixPath(unquote(path)).name
    return name if name and name not in (".", "..") and "/" not in name else None


class LocalImages:
    """Files in one folder of the project, matched by the URL path's file name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def inspect(self, urls: Iterable[str]) -> Mapping[str, ImageFacts]:
        return {url: self._one(url) for url in dict.fromkeys(urls)}

    def _one(self, url: str) -> ImageFacts:
        name = basename_of(url)
        if name is None:
            return ImageFacts(url, error="the URL names no file")
        path = self.folder / name
        shown = f"{self.folder.name}/{name}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return ImageFacts(url, error=f"no file {shown} in the image folder")
        except OSError as error:
            return ImageFacts(url, error=f"{shown}: cannot read: {error.strerror}")
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return ImageFacts(url, error=f"{shown} is not a regular file")
            data = handle.read(MAX_IMAGE_BYTES + 1)
        if len(data) > MAX_IMAGE_BYTES:
            return ImageFacts(url, size_bytes=info.st_size, error=f"{shown} is over 1 MB")
        return facts_of(url, data)


class FetchedImages:
    """Images fetched over https (`--fetch-images`): one GET each, timeouts, at most 1 MB."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def inspect(self, urls: Iterable[str]) -> Mapping[str, ImageFacts]:
        return {url: self._one(url) for url in dict.fromkeys(urls)}

    def _one(self, url: str) -> ImageFacts:
        import requests

        if not url.startswith("https://"):
            return ImageFacts(url, error="not fetched: not an https:// URL")
        try:
            with self.session.get(
                url, timeout=FETCH_TIMEOUT, stream=True, allow_redirects=True
            ) as response:
                if not response.url.startswith("https://"):
                    return ImageFacts(url, error="not fetched: redirected away from https")
                if response.status_code != requests.codes.ok:
                    return ImageFacts(url, error=f"fetch answered HTTP {response.status_code}")
                data = _read_capped(response)
        except requests.RequestException as error:
            return ImageFacts(url, error=f"could not fetch: {type(error).__name__}")
        if data is None:
            return ImageFacts(url, error="over 1 MB: not read further")
        return facts_of(url, data)


def _read_capped(response: requests.Response) -> bytes | None:
    """The body, or None once it passes MAX_IMAGE_BYTES (the rest is never downloaded)."""
    body = bytearray()
    for chunk in response.iter_content(_CHUNK):
        body += chunk
        if len(body) > MAX_IMAGE_BYTES:
            return None
    return bytes(body)


def fetching_session() -> requests.Session:
    """A session that follows redirects only to https and carries no credentials."""
    import requests

    session = requests.Session()
    session.trust_env = False  # no .netrc credentials or proxies from the environment
    session.max_redirects = 3
    session.headers["User-Agent"] = "ipass-preview"
    return session
