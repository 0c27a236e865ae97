"""`ipass preview`: dispatch to the preview use case and say where the pages are."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.catalog import (
    env_option,
    exclude_option,
    no_cache_option,
    resolve_cached,
    target_option,
)
from reconciler.errors import ExitCode

if TYPE_CHECKING:
    from reconciler.usecases.preview import PreviewResult


@click.command()
@env_option
@target_option
@exclude_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write (default: .ipass/preview/ENV/). It must be new, empty, or an "
    "earlier preview: ipass replaces what it wrote there and nothing else.",
)
@click.option(
    "--fetch-images",
    is_flag=True,
    help="Download each https image and logo (at most 1 MB each, no credentials, no proxy "
    "from the environment) to check its size, weight and ratio. Without it, the images "
    "are checked from the folder `[preview] images` in ipass.toml names, if any.",
)
@no_cache_option
def preview(
    *,
    environment: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    out: Path | None,
    fetch_images: bool,
    no_cache: bool,
) -> int:
    """Write an HTML proof sheet of the cards as customers will see them.

    One page per entry shows its card in zh_HK and en_US side by side: logo,
    brand, name and subtitle, the image with the bottom third that may be
    cropped, price, dates in Hong Kong time, the code drawn from a sample value,
    the button and its link, the description, categories, stock, exposure and
    the ticket details. Problems are marked on the card: text too long or too
    wide, a missing locale, an image that is not https, dates that passed or end
    before they start, and with images to check, their size, weight and ratio.

    \b
    The index lists the entries as `ipass plan` orders them (what needs a
    person first). An edited entry (blocked, replace) shows the published card
    beside the catalog card, the changed fields highlighted.

    \b
    An invalid catalog is shown, not refused: each entry that fails validation
    is listed first (as "invalid") with its cards drawn from what it renders
    to and each problem marked on its field with file:line; files that could
    not be read or rendered are listed on the index with their problems. The
    plan covers the valid entries.

    \b
    Open DIR/index.html in a browser: the pages need no server and run no
    script. Building needs no network and no credentials. Exits 0 even when
    cards have problems (they are counted); 1 when the catalog is invalid,
    after writing the pages (`ipass validate` lists the problems).

    \b
    Examples:
      ipass preview
      ipass preview --select product:MOVIE --out /tmp/cards
    """
    from reconciler.cli.resolve import catalog_workers
    from reconciler.domain.plan import PlanOptions
    from reconciler.domain.text import printable
    from reconciler.usecases.preview import build_preview, preview_ports

    target = resolve_cached(environment, no_cache)
    ports = preview_ports(target, fetch_images=fetch_images)
    options = PlanOptions(targets, excludes)
    result = build_preview(target, options, out=out, ports=ports, workers=catalog_workers())
    plural = "entry" if result.entries == 1 else "entries"
    problems = f"{result.problems} problem{'' if result.problems == 1 else 's'} on the cards"
    images = (
        f"images checked from the {result.images_from}"
        if result.images_from
        else ("images not checked (see --fetch-images)")
    )
    click.echo(printable(f"wrote {result.index}: {result.entries} {plural}, {problems}"))
    click.echo(printable(images))
    if not result.catalog_problems:
        return int(ExitCode.OK)
    click.echo(printable(_invalid_words(result)))
    return int(ExitCode.INVALID_INPUT)


def _invalid_words(result: PreviewResult) -> str:
    """Why the exit status is 1, and where to look."""
    parts = []
    if result.invalid:
        parts.append(f"{result.invalid} {'entry' if result.invalid == 1 else 'entries'} invalid")
        if result.invalid_unselected:
            parts[0] += f" ({result.invalid_unselected} not selected, so not shown)"
    if result.unread_files:
        count = result.unread_files
        parts.append(f"{count} file{'' if count == 1 else 's'} could not be read or rendered")
    other = result.outside_cards - result.unread_problems
    if other:
        parts.append(f"{other} problem{'' if other == 1 else 's'} of the catalog as a whole")
    return " and ".join(parts) + ": the pages show why; `ipass validate` lists them"
