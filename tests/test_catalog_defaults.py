"""catalog/defaults.yaml is rendered once for every set of values it reads, not once per entry:
what each entry gets, and each entry's problems, are those of rendering it for that entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli
from test_catalog import COUPON, project

DEFAULTS = (
    'merchantLogo: "{{ cdn }}/logo.png"\n'
    "button:\n"
    "  btnType: usage\n"
    "  btnUrl: \"alipayhk://x?page=use&q={{ ('key=' ~ key) | urlencode }}\"\n"
    'orderPageLink: "alipayhk://x?page=buy&item={{ each.key }}"\n'
)
FOR_EACH = "for_each: [a, b]\n" + COUPON


def without(text: str, *lines: str) -> str:
    for line in lines:
        text = text.replace(line, "")
    return text


def files(entries: dict[str, str]) -> dict[str, str | bytes]:
    return {
        "catalog/vars.yaml": "title: Coffee Voucher\ncdn: https://cdn.example\n",
        "catalog/defaults.yaml": DEFAULTS,
        **entries,
    }


def test_each_entry_gets_the_defaults_rendered_for_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entry = without(
        FOR_EACH,
        "merchantLogo: https://cdn.example.com/logo.png\n",
        "orderPageLink: alipayhk://platformapi/startapp?appId=1&page=buy\n",
        "button:\n  btnType: usage\n  btnUrl: alipayhk://platformapi/startapp?appId=1&page=use\n",
    )
    project(tmp_path, files({"catalog/templates/card.yaml": entry}))
    run = run_cli(capsys, "-C", str(tmp_path), "render", "--no-cache")
    assert run.code == 0, run.out + run.err
    bodies = json.loads(run.out)
    found = {
        key: (body["merchantLogo"], body["button"]["btnUrl"], body["orderPageLink"])
        for key, body in bodies.items()
    }
    assert found == {
        "card[a]": (
            "https://cdn.example/logo.png",
            "alipayhk://x?page=use&q=key%3Dcard%5Ba%5D",
            "alipayhk://x?page=buy&item=a",
        ),
        "card[b]": (
            "https://cdn.example/logo.png",
            "alipayhk://x?page=use&q=key%3Dcard%5Bb%5D",
            "alipayhk://x?page=buy&item=b",
        ),
    }


def test_a_default_fails_for_the_entries_it_fails_for(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`each` exists only in entries of a for_each: the default reading it fails for the plain
    entry alone (at its place in defaults.yaml), and the for_each entries render it."""
    plain = without(COUPON, "orderPageLink: alipayhk://platformapi/startapp?appId=1&page=buy\n")
    each = without(FOR_EACH, "orderPageLink: alipayhk://platformapi/startapp?appId=1&page=buy\n")
    project(
        tmp_path,
        files({"catalog/templates/plain.yaml": plain, "catalog/templates/each.yaml": each}),
    )
    run = run_cli(capsys, "-C", str(tmp_path), "validate", "--no-cache")
    assert run.code == 1, run.out + run.err
    # A failure for a for_each entry would name it: "(entry each[a])".
    assert run.out.splitlines() == [
        "catalog/defaults.yaml:5:47: orderPageLink: 'each' is undefined; define it in vars.yaml, "
        "the entry's vars, or check the spelling",
        "1 problem found",
    ]
