"""Projects whose previews the browser tests open: the example catalog, hostile catalogs, and an
example published to a sandbox and then edited (a blocked and a replaced entry). No tests here.

Each is built once per session with the real `ipass` in a child process, into a folder made by
`tmp_path_factory`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from helpers import EXAMPLE_CATALOG, REPO
from reconcile_support import rehearsal

# What each hostile text tries; the page must show every one as plain text.
SCRIPT: Final = "<script>window.__pwned=1</script>"
IMG_ONERROR: Final = '<img src=x onerror="window.__pwned=1">'
IFRAME: Final = '<iframe src="javascript:window.__pwned=1"></iframe>'
JS_URL: Final = "javascript:window.__pwned=1"
SVG_ONLOAD: Final = "<svg onload=window.__pwned=1>"  # 30: fits subName (en_US, 32)
CLOSE_CARD: Final = '"></section><b>x</b>'  # 20: fits name (en_US, 24)
# Links the vendor accepts (https / alipayhk://) that carry markup or a script URL inside.
BTN_URL: Final = (
    'https://x.example/"onmouseover="window.__pwned=1"><script>window.__pwned=1</script>'
)
ORDER_LINK: Final = "alipayhk://x/?next=javascript:window.__pwned=1"
DETAIL_LINK: Final = "alipayhk://x/?q=%22%3E%3Cimg%20src%3Dx%20onerror%3Dwindow.__pwned%3D1%3E"
RLO: Final = "\u202e"
BIDI_NAME: Final = f"{RLO}txt.exe"  # shows as "exe.txt" if the override is obeyed
LONG_WORD: Final = "https://cdn.example/" + "a" * 180  # no break opportunity
WIDE_NAME: Final = "W" * 24  # the vendor allows 24 characters; they do not fit 343 px
HOSTILE_KEY: Final = "hostile"
WIDE_KEY: Final = "wide"
EAN_KEY: Final = "ean-voucher"
ZH_ONLY_KEY: Final = "zh-only"
BLOCKED_KEY: Final = "cinema"
REPLACED_KEY: Final = "coffee-voucher"
RETIRED_KEY: Final = "ferry-macau"


@dataclass(frozen=True)
class Site:
    """A built preview: the project it came from, its folder, and the bodies `ipass render`
    prints for the same catalog (what the cards should show)."""

    project: Path
    out: Path
    bodies: dict[str, dict[str, Any]]

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def ipass(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line in a child process, with this checkout on its path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPASS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _checked(project: Path, *args: str) -> str:
    done = ipass(project, *args)
    assert done.returncode == 0, f"ipass {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def build(project: Path, out: Path, *env: str) -> Site:
    bodies = json.loads(_checked(project, "render", *env))
    _checked(project, "preview", *env, "--out", str(out))
    return Site(project, out, bodies)


def example_project(root: Path) -> Path:
    """This repository's settings and example catalog, as `ipass preview` would see them."""
    shutil.copytree(EXAMPLE_CATALOG, root / "catalog")
    shutil.copy(REPO / "ipass.toml", root / "ipass.toml")
    return root


def _write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _yaml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # JSON strings are YAML strings


def hostile_project(root: Path) -> Path:
    """The example plus entries whose texts try HTML, script, script URLs and bidi tricks, one
    whose name fits the vendor's limit but not the card, an EAN-13 barcode, and one without
    English texts."""
    example_project(root)
    tickets = root / "catalog/templates/coupons"
    description = "\n".join([SCRIPT, IMG_ONERROR, IFRAME, JS_URL, LONG_WORD])
    _write(
        tickets / f"{HOSTILE_KEY}.yaml",
        f"""
        type: COUPON
        product: GIFT_CARD
        imageUrl: "{{{{ cdn }}}}/coupons/hostile-350.png"
        currentAmountCent: 1000
        stock: 10
        categories: [Others]
        button: {{btnType: usage, btnUrl: {_yaml(BTN_URL)}}}
        orderPageLink: {_yaml(ORDER_LINK)}
        detailLink: {_yaml(DETAIL_LINK)}
        localeInfo:
          zh_HK:
            name: {_yaml(BIDI_NAME)}
            subName: {_yaml("<b>粗體</b>")}
            brandName: {_yaml("<i>品牌</i>")}
            description: {_yaml(description)}
          en_US:
            name: {_yaml(CLOSE_CARD)}
            subName: {_yaml(SVG_ONLOAD)}
            brandName: {_yaml(BIDI_NAME)}
            description: {_yaml(description)}
        """,
    )
    _write(
        tickets / f"{WIDE_KEY}.yaml",
        f"""
        type: COUPON
        product: GIFT_CARD
        imageUrl: "{{{{ cdn }}}}/coupons/wide-350.png"
        currentAmountCent: 1000
        stock: 10
        categories: [Others]
        localeInfo:
          zh_HK:
            name: 寬
            brandName: 寬
            description: 寬
          en_US:
            name: {_yaml(WIDE_NAME)}
            subName: {_yaml("M" * 32)}
            brandName: {_yaml("W" * 32)}
            description: {_yaml(LONG_WORD)}
        """,
    )
    _write(
        tickets / f"{EAN_KEY}.yaml",
        """
        type: COUPON
        product: GIFT_CARD
        codeType: barcode
        codeStandard: EAN-13
        imageUrl: "{{ cdn }}/coupons/ean-350.png"
        currentAmountCent: 1000
        stock: 10
        categories: [Others]
        localeInfo:
          zh_HK: {name: 條碼券, brandName: 珍珠河, description: 條碼}
          en_US: {name: Barcode Voucher, brandName: Pearl River, description: Barcode}
        """,
    )
    _write(
        tickets / f"{ZH_ONLY_KEY}.yaml",
        """
        type: COUPON
        product: GIFT_CARD
        imageUrl: "{{ cdn }}/coupons/zh-350.png"
        currentAmountCent: 1000
        stock: 10
        categories: [Others]
        localeInfo:
          zh_HK: {name: 只有中文, brandName: 珍珠河, description: 只有中文}
        """,
    )
    return root


# An invalid catalog: entries the catalog check refuses, one per problem a reviewer must see.
LONG_KEY: Final = "long-name"
LONG_NAME: Final = "<script>window.__pwned=1</script> Far Too Long"  # en_US takes 24
HTTP_KEY: Final = "plain-http"
PAST_KEY: Final = "past-start"
BACKWARDS_KEY: Final = "backwards"
BROKEN_FILE: Final = "catalog/templates/bad/broken.yaml"
_INVALID_COUPON: Final = """
type: COUPON
product: GIFT_CARD
imageUrl: "{{{{ cdn }}}}/coupons/{key}-350.png"
currentAmountCent: 1000
stock: 10
categories: [Others]
{extra}localeInfo:
  zh_HK: {{name: 無效, brandName: 珍珠河, description: 無效}}
  en_US: {{name: {name}, brandName: Pearl River, description: Invalid}}
"""


def invalid_project(root: Path) -> Path:
    """The example plus four invalid entries (a too-long English name that also tries a script,
    a logo over plain http, a start date in the past, an end before the start) and a file that
    is not YAML."""
    example_project(root)
    bad = root / "catalog/templates/bad"
    bad.mkdir()
    extras = {
        LONG_KEY: ("", _yaml(LONG_NAME)),
        HTTP_KEY: ("merchantLogo: http://cdn.example/logo.png\n", "Plain Http"),
        PAST_KEY: ("startDate: 2020-01-01\n", "Past Start"),
        BACKWARDS_KEY: ("startDate: 2030-06-01\nendDate: 2030-05-01\n", "Backwards"),
    }
    for key, (extra, name) in extras.items():
        _write(bad / f"{key}.yaml", _INVALID_COUPON.format(key=key, extra=extra, name=name))
    (root / BROKEN_FILE).write_text("type: COUPON\nproduct: [GIFT_CARD\n", encoding="utf-8")
    return root


def build_invalid(project: Path, out: Path) -> Site:
    """The preview of an invalid catalog: written, then exit 1. No bodies: nothing renders."""
    done = ipass(project, "preview", "--out", str(out))
    assert done.returncode == 1, f"ipass preview exited {done.returncode}:\n{done.stderr}"
    assert "4 entries invalid and 1 file could not be read or rendered: the pages show why" in (
        done.stdout
    )
    return Site(project, out, {})


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def edited_after_publishing(root: Path) -> tuple[Path, str]:
    """The example published to a sandbox on loopback (stopped before the preview is built),
    then edited: the cinema's price and English name without a new revision (blocked), the
    coffee voucher's English name with revision 2 (a replace), the ferry retired. Returns the
    project and the environment's name."""
    with rehearsal(root) as r:
        _checked(r.root, "apply", "--auto-approve")
    tickets = r.root / "catalog/templates/tickets"
    _edit(tickets / "cinema.yaml", "currentAmountCent: 9500", "currentAmountCent: 8800")
    _edit(tickets / "cinema.yaml", "name: Christmas Movie Ticket", "name: Xmas Movie Ticket")
    _edit(tickets / "ferry-macau.yaml", "type: TICKET", "retired: true\ntype: TICKET")
    coupons = r.root / "catalog/templates/coupons"
    _edit(coupons / "coffee-voucher.yaml", "name: Coffee Voucher", "name: Coffee Coupon")
    _edit(coupons / "coffee-voucher.yaml", "type: COUPON", "revision: 2\ntype: COUPON")
    return r.root, "rehearsal"
