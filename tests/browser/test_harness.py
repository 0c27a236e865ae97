"""The measuring tools proven on hand-written pages whose answers are known, so a preview test
that passes does so because the preview is right, not because the harness sees nothing."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
import zxingcpp

from browser import harness

pytestmark = pytest.mark.browser

CSP = (
    "default-src 'none'; img-src https: data:; style-src 'self'; base-uri 'none'; "
    "form-action 'none'"
)
CSS = """
body { margin: 0 16px; font: 16px sans-serif; }
section[data-card] { width: 343px; box-sizing: border-box; padding: 0 16px; }
.line { white-space: nowrap; overflow: visible; }
#away { margin-left: 400px; }
#cover { position: relative; top: -40px; height: 80px; background: red; }
#c { width: 200px; }
.clip { overflow: hidden; }
.elide { text-overflow: ellipsis; }
.img { width: 90px; height: 90px; position: relative; }
.crop { position: absolute; left: 0; right: 0; bottom: 0; height: 30px; }
"""


def page_file(folder: Path, body: str, *, name: str = "page.html") -> Path:
    (folder / "page.css").write_text(CSS, encoding="utf-8")
    path = folder / name
    path.write_text(
        textwrap.dedent(f"""\
            <!doctype html><html><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="{CSP}">
            <link rel="stylesheet" href="page.css"></head><body>
            {body}
            </body></html>"""),
        encoding="utf-8",
    )
    return path


def test_overflow_is_measured_on_block_and_inline_elements(
    strict: harness.Offline, open_page: harness.OpenPage, tmp_path: Path
) -> None:
    page = open_page(
        strict,
        page_file(
            tmp_path,
            """
            <section data-card data-key="k" data-locale="en_US" data-side="catalog">
              <div class="line" data-field="name" data-overflow="flagged">"""
            + "W" * 40
            + """</div>
              <div class="line" data-field="subName">Fits</div>
              <p><span data-field="brandName">"""
            + "M" * 40
            + """</span></p>
              <p><span data-field="stock">12</span></p>
              <div class="clip"><div class="line elide" data-field="exposure">x</div></div>
              <div class="img" data-field="imageUrl"><div class="crop" data-crop>cut</div></div>
              <p data-field="price">HK$1 <s>HK$2</s></p>
            </section>""",
        ),
    )
    measured = {m.field: m for m in harness.measure_fields(page)}
    assert measured["name"].flagged
    assert measured["name"].overflows
    assert measured["name"].scroll_width > measured["name"].client_width
    assert not measured["subName"].flagged
    assert not measured["subName"].overflows
    assert measured["brandName"].inline
    assert measured["brandName"].overflows  # wraps nowhere: one word wider than the card
    assert not measured["stock"].overflows
    assert harness.clipping(page.locator('[data-field="name"]')) == []
    assert harness.clipping(page.locator('[data-field="exposure"]')) == [
        "div visible ellipsis",
        "div hidden clip",
    ]
    assert harness.struck_texts(page.locator('[data-field="price"]')) == ["HK$2"]
    crop = harness.crop_of(page.locator("[data-card]"))
    assert crop.square
    assert crop.marks_bottom_third
    assert crop.label == "cut"
    half = harness.Crop(crop.image, (crop.image[0], crop.image[1] + 45, *crop.image[2:]), "cut")
    assert not half.marks_bottom_third


def test_card_boxes_tell_visible_cards_from_hidden_covered_and_off_screen_ones(
    strict: harness.Offline, open_page: harness.OpenPage, tmp_path: Path
) -> None:
    page = open_page(
        strict,
        page_file(
            tmp_path,
            """
            <section data-card data-key="seen" data-locale="zh_HK" data-side="catalog">a</section>
            <section data-card data-key="away" id="away" data-locale="en_US">b</section>
            <section data-card data-key="covered" data-locale="en_US">c</section>
            <div id="cover"></div>
            <section data-card data-key="hidden" hidden>d</section>""",
        ),
    )
    boxes = {box.key: box for box in harness.card_boxes(page)}
    seen = boxes["seen"]
    assert (seen.width, seen.locale, seen.side) == (harness.CARD_WIDTH_PX, "zh_HK", "catalog")
    assert seen.inside_phone
    assert seen.shown
    assert seen.on_top
    assert not boxes["away"].inside_phone
    assert boxes["covered"].inside_phone
    assert not boxes["covered"].on_top
    assert not boxes["hidden"].shown
    assert not boxes["hidden"].inside_phone


def test_the_browser_reaches_no_network_and_the_csp_blocks_injected_script(
    strict: harness.Offline, csp_off: harness.Offline, open_page: harness.OpenPage, tmp_path: Path
) -> None:
    body = """<p id="p">x</p><img id="remote" src="https://example.com/remote.png">
              <script>window.__pwned = 1</script>"""
    path = page_file(tmp_path, body)
    page = open_page(strict, path)
    assert (path.as_uri(), "https://example.com/remote.png") in strict.blocked
    assert page.evaluate("document.getElementById('remote').naturalWidth") == 0
    assert page.evaluate("window.__pwned") is None
    assert any(v.startswith("script-src") for v in harness.violations(page))
    assert harness.active_elements(page) == ["<script>"]
    # The stylesheet loads from file:// under style-src 'self'.
    assert harness.style_of(page.locator("body"), "marginLeft") == {"marginLeft": "16px"}
    assert not any(v.startswith("style-src") for v in harness.violations(page))
    # Without the CSP the same script runs: the hostile tests' second context is real.
    assert open_page(csp_off, path).evaluate("window.__pwned") == 1


def test_active_elements_finds_handlers_frames_and_script_urls(
    strict: harness.Offline, open_page: harness.OpenPage, tmp_path: Path
) -> None:
    page = open_page(
        strict,
        page_file(
            tmp_path,
            """<img src="x" onerror="window.__pwned=1"><iframe src="about:blank"></iframe>
               <a href="javascript:alert(1)">j</a><a href="cards/a.html">fine</a>""",
        ),
    )
    assert harness.active_elements(page) == [
        "<img onerror>",
        "<iframe>",
        "<a href=javascript:alert(1)>",
    ]
    assert harness.links(page) == ["javascript:alert(1)", "cards/a.html"]


def test_a_leaking_bidi_override_is_seen_and_an_isolated_one_is_not(
    strict: harness.Offline, open_page: harness.OpenPage, tmp_path: Path
) -> None:
    leaking = open_page(
        strict, page_file(tmp_path, "<p>\u202eabc <span>after</span></p>", name="leak.html")
    )
    assert harness.reversed_latin_runs(leaking) == ["after"]
    isolated = open_page(
        strict,
        page_file(tmp_path, "<p><bdi>\u202eabc</bdi> <span>after</span></p>", name="iso.html"),
    )
    assert harness.reversed_latin_runs(isolated) == []


@pytest.mark.parametrize(
    ("standard", "value"),
    [("QRCODE", "IPASS-SAMPLE-cinema"), ("CODE128", "IPASS-SAMPLE"), ("EAN-13", "4006381333931")],
)
def test_codes_drawn_as_svg_decode_from_a_screenshot(
    strict: harness.Offline, open_page: harness.OpenPage, tmp_path: Path, standard: str, value: str
) -> None:
    svg = zxingcpp.create_barcode(value, harness.ZXING_FORMAT[standard]).to_svg()
    data = base64.b64encode(svg.encode()).decode()
    page = open_page(
        strict,
        page_file(
            tmp_path,
            f"""<figure data-field="code"><img id="c" src="data:image/svg+xml;base64,{data}">
                </figure><figure id="blank">-</figure>""",
        ),
    )
    decoded = harness.decode(page.locator("#c").screenshot())
    assert [d.text for d in decoded] == [value]
    assert harness.decode(page.locator("#blank").screenshot()) == []
