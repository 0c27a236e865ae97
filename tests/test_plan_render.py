"""The plan explained: its JSON document (an interface), plain text and the PR comment."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from helpers import REPO, run_cli
from pydantic import JsonValue

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.payload import derive_request_id
from reconciler.domain.plan import (
    Action,
    Blocked,
    Create,
    Desired,
    NoOp,
    Plan,
    PlanBinding,
    PlanOptions,
    PlanStep,
    Replace,
    Retire,
    Retirement,
    Retry,
    Unknown,
    Vanished,
)
from reconciler.domain.plan_document import (
    PriceDocument,
    plan_document,
    plan_json,
    plan_json_schema,
    read_plan_document,
)
from reconciler.domain.plan_render import plan_markdown, plan_text
from reconciler.domain.plan_render.facts import money, price_words
from reconciler.domain.planner import Destination, catalog_hash, compute_plan, field_changes
from reconciler.domain.schemas import schema_text
from reconciler.domain.state import State, StateEntry, TemplateRecord
from reconciler.errors import ConflictError

LINEAGE = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
MERCHANT = "2160120000000001"
START = 1798732800000  # 2027-01-01 00:00 HKT
END = 1830268799000  # 2027-12-31 23:59:59 HKT
RECORDED_AT = "2026-11-02T03:04:05Z"
BLOCKED_REASON = "published templates cannot be changed at AlipayHK"
RETIRE_REASON = "removed from the catalog; the template stays live at AlipayHK until its end date"
UNKNOWN_REASON = (
    "a create was sent and its outcome was never recorded; find out at AlipayHK, then "
    "`ipass state resolve` it, or `ipass apply --retry-unknown` to re-send with the same requestId"
)
CDN = "https://cdn.pearlriver.example/ipass"
APP = "alipayhk://platformapi/startapp?appId=2102020211542667"


# --- building plans the way compute_plan does -----------------------------------------------


def body(
    key: str,
    *,
    kind: str = "COUPON",
    product: str = "GIFT_CARD",
    zh: str = "咖啡券",
    en: str = "Coffee Voucher",
    current: int | None = 2800,
    original: int | None = 3800,
    currency: str | None = "HKD",
    start: int = START,
    end: int = END,
) -> dict[str, JsonValue]:
    """A realistic createTemplate body without requestId, like `ipass render` prints."""
    payload: dict[str, JsonValue] = {
        "button": {"btnType": "usage", "btnUrl": f"{APP}&page=pages/use/index&query=key%3D{key}"},
        "categories": ["CoffeeAndTea"] if kind == "COUPON" else ["0003000200010001"],
        "codeStandard": "QRCODE",
        "codeType": "qrcode",
        "endDate": end,
        "exposure": "exposed",
        "imageUrl": f"{CDN}/{key}-350.png",
        "localeInfo": {
            "en_US": {"brandName": "Pearl River", "description": f"{en}.", "name": en},
            "zh_HK": {"brandName": "珍珠河", "description": f"{zh}。", "name": zh},
        },
        "merchantId": MERCHANT,
        "merchantLogo": f"{CDN}/brand/logo-200.png",
        "product": product,
        "startDate": start,
        "stock": 5000,
        "type": kind,
    }
    for name, value in (
        ("currentAmountCent", current),
        ("originalAmountCent", original),
        ("currencyCode", currency),
    ):
        if value is not None:
            payload[name] = value
    return payload


def digest(payload: dict[str, JsonValue]) -> str:
    return sha256_hex(canonical_json({k: v for k, v in payload.items() if k != "requestId"}))


def desired(key: str, payload: dict[str, JsonValue]) -> Desired:
    return Desired(key, source_of(key), payload, digest(payload))


def source_of(key: str) -> str:
    """`gift-card[100]` is an item of catalog/templates/gift-card.yaml (for_each)."""
    return f"catalog/templates/{key.split('[', maxsplit=1)[0]}.yaml"


def sent(key: str, payload: dict[str, JsonValue], generation: int = 0) -> dict[str, JsonValue]:
    request_id = derive_request_id(MERCHANT, key, digest(payload), generation)
    return {**payload, "requestId": request_id}


def record(
    key: str,
    payload: dict[str, JsonValue],
    *,
    status: str = "created",
    code: str | None = None,
    generation: int = 0,
) -> TemplateRecord:
    body_sent = sent(key, payload, generation)
    return TemplateRecord.model_validate(
        {
            "status": status,
            "template_code": code if status != "unknown" else None,
            "request_id": body_sent["requestId"],
            "payload_hash": digest(payload),
            "payload": body_sent,
            "generation": generation,
            "source": source_of(key),
            "recorded_at": RECORDED_AT,
            "updated_at": RECORDED_AT,
        }
    )


def create(key: str, payload: dict[str, JsonValue]) -> PlanStep:
    return Create(
        key=key,
        reason="new entry",
        desired=desired(key, payload),
        send=sent(key, payload),
        generation=0,
    )


def noop(key: str, payload: dict[str, JsonValue]) -> PlanStep:
    rec = record(key, payload, code=f"TPL-{key}")
    return NoOp(key=key, reason="unchanged", desired=desired(key, payload), recorded=rec)


def blocked(key: str, old: dict[str, JsonValue], new: dict[str, JsonValue]) -> PlanStep:
    rec = record(key, old, code="2024110122001")
    return Blocked(
        key=key,
        reason=BLOCKED_REASON,
        desired=desired(key, new),
        recorded=rec,
        changes=field_changes(rec.payload, new),
    )


def replaced(key: str, old: dict[str, JsonValue], new: dict[str, JsonValue]) -> PlanStep:
    rec = record(key, old, code="2024110122002")
    return Replace(
        key=key,
        reason="publish a new template; the old one stays live and moves to history",
        desired=desired(key, new),
        recorded=rec,
        changes=field_changes(rec.payload, new),
        send=sent(key, new, 1),
        generation=1,
    )


def retry(key: str, payload: dict[str, JsonValue]) -> Retry:
    rec = record(key, payload, status="unknown")
    return Retry(
        key=key,
        reason="re-send the earlier request with the same requestId",
        desired=desired(key, payload),
        recorded=rec,
        changes=(),
        send=dict(rec.payload),
        generation=rec.generation,
    )


def unknown(key: str, payload: dict[str, JsonValue]) -> PlanStep:
    rec = record(key, payload, status="pending")
    return Unknown(
        key=key, reason=UNKNOWN_REASON, desired=desired(key, payload), recorded=rec, changes=()
    )


def retire(key: str, payload: dict[str, JsonValue]) -> PlanStep:
    rec = record(key, payload, code="2024110122003")
    return Retire(key=key, reason=RETIRE_REASON, recorded=rec)


DESTINATION = Destination(endpoint="embedded sandbox", merchant_id="2160120000000001")


def make_plan(
    steps: list[PlanStep], *, environment: str = "sandbox", options: PlanOptions | None = None
) -> Plan:
    ordered = tuple(sorted(steps, key=lambda step: step.key))
    counts: dict[Action, int] = {}
    for step in ordered:
        counts[step.action] = counts.get(step.action, 0) + 1
    wanted = {
        s.key: s.desired
        for s in ordered
        if not isinstance(s, Retire | Vanished) and s.desired is not None
    }
    binding = PlanBinding(
        environment,
        DESTINATION.endpoint,
        DESTINATION.merchant_id,
        LINEAGE,
        7,
        catalog_hash(wanted),
    )
    return Plan(binding, options or PlanOptions(), ordered, counts)


def ticket(key: str, product: str, zh: str, en: str, cents: int) -> dict[str, JsonValue]:
    return body(key, kind="TICKET", product=product, zh=zh, en=en, current=cents, original=None)


MUSEUM_OLD = ticket("museum-pass", "PASS", "博物館通行證", "Museum Pass", 12000)
MUSEUM_NEW: dict[str, JsonValue] = {
    **MUSEUM_OLD,
    "currentAmountCent": 9900,
    "localeInfo": {
        "en_US": {
            "brandName": "Pearl River",
            "description": "Museum Pass.",
            "name": "Museum Pass XL",
            "subName": "All galleries",
        },
        "zh_HK": {"brandName": "珍珠河", "description": "博物館通行證。", "name": "博物館通行證"},
    },
}
FLIGHT_OLD = {
    **ticket("flight-hkg-tpe", "AIR_TICKET", "香港至台北", "Hong Kong–Taipei", 12550),
    "originalAmountCent": 15000,
    "currencyCode": "USD",
}
FLIGHT_NEW = {**FLIGHT_OLD, "endDate": 1814371199000}  # 2027-06-30 23:59:59 HKT
CINEMA = {
    **ticket("cinema", "MOVIE", "電影換票證", "Movie Ticket", 9500),
    "originalAmountCent": 9500,
}
GIFT_500 = body(
    "gift-card[500]", zh="HK$500 禮品卡", en="HK$500 Gift Card", current=47500, original=50000
)
BUS = ticket("bus-shenzhen-bay", "BUS_TICKET", "深圳灣口岸巴士", "Shenzhen Bay Bus", 5000)
FERRY = ticket("ferry-macau", "SHIP_TICKET", "港澳船票", "Macau Ferry", 17500)
RAIL = ticket(
    "rail-guangzhou", "TRAIN_TICKET", "高鐵西九龍至廣州南", "West Kowloon–Guangzhou", 21500
)


def mixed_plan() -> Plan:
    """Every action once or more, as a catalog pull request would produce them."""
    return make_plan(
        [
            create("coffee-voucher", body("coffee-voucher")),
            create("cinema", CINEMA),
            create("gift-card[500]", GIFT_500),
            replaced("flight-hkg-tpe", FLIGHT_OLD, FLIGHT_NEW),
            retry("bus-shenzhen-bay", BUS),
            blocked("museum-pass", MUSEUM_OLD, MUSEUM_NEW),
            unknown("ferry-macau", FERRY),
            retire("rail-guangzhou", RAIL),
            noop("gift-card[100]", body("gift-card[100]", current=10000, original=10000)),
            noop("gift-card[200]", body("gift-card[200]", current=20000, original=20000)),
        ]
    )


def entry(text: str, key: str) -> list[str]:
    """The text block of one entry: its header line up to the blank line after it."""
    blocks = [block.splitlines() for block in text.split("\n\n")]
    found = [b for b in blocks if re.fullmatch(rf"\S+ +{re.escape(key)}", b[0])]
    assert len(found) == 1, f"no single entry for {key}"
    return found[0]


def summaries(markdown: str) -> list[str]:
    """The keys of the collapsible entries, in order (the unchanged list has no key)."""
    return re.findall(r"<summary>[^<]*<b>[a-z-]+</b> <code>([^<]*)</code>", markdown)


def details(markdown: str, key: str) -> str:
    pattern = rf"<details[^>]*><summary>[^\n]*<code>{re.escape(key)}</code>.*?</details>"
    found = re.findall(pattern, markdown, flags=re.DOTALL)
    assert len(found) == 1, f"no single <details> for {key}"
    return str(found[0])


# --- text -------------------------------------------------------------------------------------


def test_text_starts_with_a_one_line_summary() -> None:
    text = plan_text(mixed_plan())
    assert text.splitlines()[0] == (
        "Plan for sandbox: 1 blocked, 1 with an unknown outcome, 3 to create, 1 to replace, "
        "1 to retry, 1 to retire, 2 unchanged."
    )


def test_summary_leaves_out_actions_with_no_entries() -> None:
    steps = [create(f"c{i}", body(f"c{i}")) for i in range(3)]
    steps += [blocked("museum-pass", MUSEUM_OLD, MUSEUM_NEW), retire("old", body("old"))]
    steps += [noop(f"n{i}", body(f"n{i}")) for i in range(5)]
    text = plan_text(make_plan(steps))
    assert text.splitlines()[0] == (
        "Plan for sandbox: 1 blocked, 3 to create, 1 to retire, 5 unchanged."
    )


def test_empty_plan_says_so() -> None:
    assert plan_text(make_plan([])) == (
        "Plan for sandbox: no entries in scope.\n"
        "Publishes to embedded sandbox for merchant 2160120000000001.\n"
    )


def test_entries_are_ordered_attention_first_then_changes_then_unchanged() -> None:
    text = plan_text(mixed_plan())
    headers = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert headers == [
        headers[0],  # the summary
        "Publishes to embedded sandbox for merchant 2160120000000001.",
        "blocked  museum-pass",
        "unknown  ferry-macau",
        "create   cinema",
        "create   coffee-voucher",
        "create   gift-card[500]",
        "replace  flight-hkg-tpe",
        "retry    bus-shenzhen-bay",
        "retire   rail-guangzhou",
        "Unchanged (2): gift-card[100], gift-card[200]",
    ]
    assert text.endswith("Unchanged (2): gift-card[100], gift-card[200]\n")


def test_create_entry_reads_like_a_proof_sheet() -> None:
    assert entry(plan_text(mixed_plan()), "coffee-voucher") == [
        "create   coffee-voucher",
        "  Why:           new entry",
        "  Product:       Gift card / coupon",
        "  Price:         HK$28.00 (was HK$38.00)",
        "  Dates:         2027-01-01 00:00 HKT to 2027-12-31 23:59 HKT",
        "  Source:        catalog/templates/coffee-voucher.yaml",
        "  zh_HK:",
        "    Name:        咖啡券",
        "    Subtitle:    not set",
        "    Brand:       珍珠河",
        "    Description: | 咖啡券。",
        "  en_US:",
        "    Name:        Coffee Voucher",
        "    Subtitle:    not set",
        "    Brand:       Pearl River",
        "    Description: | Coffee Voucher.",
        f"  Image:         {CDN}/coffee-voucher-350.png",
        f"  Logo:          {CDN}/brand/logo-200.png",
        "  Categories:    CoffeeAndTea",
        "  Stock:         5,000",
        "  Code:          qrcode (QRCODE)",
        "  Button:        usage",
        f"  Button link:   {APP}&page=pages/use/index&query=key%3Dcoffee-voucher",
        "  Order page:    not set",
        "  Detail page:   not set",
        "  Exposure:      exposed",
        f"  Merchant:      {MERCHANT}",
    ]


def test_blocked_entry_shows_each_change_side_by_side_and_the_way_out() -> None:
    assert entry(plan_text(mixed_plan()), "museum-pass") == [
        "blocked  museum-pass",
        "  Why:           published templates cannot be changed at AlipayHK",
        "  Product:       Admission ticket",
        "  Name (zh_HK):  博物館通行證",
        "  Name (en_US):  Museum Pass XL",
        "  Price:         HK$99.00",
        "  Dates:         2027-01-01 00:00 HKT to 2027-12-31 23:59 HKT",
        "  Published as:  2024110122001",
        "  Source:        catalog/templates/museum-pass.yaml",
        "  Changes (published -> catalog):",
        "    currentAmountCent: 12000 (HK$120.00) -> 9900 (HK$99.00)",
        '    localeInfo.en_US.name: "Museum Pass" -> "Museum Pass XL"',
        '    localeInfo.en_US.subName: (not set) -> "All galleries"',
        "  Way out:       change the catalog as the Why line says (e.g. raise `revision:`), or",
        "                 in an emergency: "
        "ipass apply --env sandbox --replace museum-pass --reason TEXT",
    ]


def test_replace_entry_shows_its_changes_and_the_template_it_replaces() -> None:
    lines = entry(plan_text(mixed_plan()), "flight-hkg-tpe")
    assert lines[0] == "replace  flight-hkg-tpe"
    assert "  Product:       Flight ticket" in lines
    assert "  Price:         USD 125.50 (was USD 150.00)" in lines
    assert "  Published as:  2024110122002" in lines
    assert lines[-2:] == [
        "  Changes (published -> catalog):",
        "    endDate: 1830268799000 (2027-12-31 23:59 HKT) -> 1814371199000 (2027-06-30 23:59 HKT)",
    ]


def test_unknown_entry_gives_the_reason_the_request_and_the_commands() -> None:
    lines = entry(plan_text(mixed_plan()), "ferry-macau")
    request_id = derive_request_id(MERCHANT, "ferry-macau", digest(FERRY))
    assert lines[:3] == [
        "unknown  ferry-macau",
        f"  Why:           {UNKNOWN_REASON}",
        "  Product:       Ferry ticket",
    ]
    assert f"  Request id:    {request_id}" in lines
    assert lines[-3:] == [
        "  To resolve:    created at AlipayHK: "
        "ipass state resolve ferry-macau --env sandbox --template-code CODE",
        "                 not created: ipass state resolve ferry-macau --env sandbox --not-created",
        "                 or re-send the same request: "
        "ipass apply --env sandbox --retry-unknown --target ferry-macau",
    ]


def test_commands_quote_keys_the_shell_would_expand() -> None:
    step = unknown("gift-card[100]", body("gift-card[100]"))
    lines = entry(plan_text(make_plan([step], environment="prod hk")), "gift-card[100]")
    assert lines[-1].endswith(
        "ipass apply --env 'prod hk' --retry-unknown --target 'gift-card[100]'"
    )


def test_retry_and_retire_entries() -> None:
    text = plan_text(mixed_plan())
    retry_lines = entry(text, "bus-shenzhen-bay")
    assert retry_lines[1] == "  Why:           re-send the earlier request with the same requestId"
    assert any(line.startswith("  Request id:    ") for line in retry_lines)
    assert "  Product:       Bus ticket" in retry_lines
    assert entry(text, "rail-guangzhou") == [
        "retire   rail-guangzhou",
        f"  Why:           {RETIRE_REASON}",
        "  Product:       Train ticket",
        "  Name (zh_HK):  高鐵西九龍至廣州南",
        "  Name (en_US):  West Kowloon–Guangzhou",
        "  Price:         HK$215.00",
        "  Dates:         2027-01-01 00:00 HKT to 2027-12-31 23:59 HKT",
        "  Published as:  2024110122003",
        "  Source:        catalog/templates/rail-guangzhou.yaml",
    ]


@pytest.mark.parametrize(
    ("product", "words"),
    [
        ("GIFT_CARD", "Gift card / coupon"),
        ("PASS", "Admission ticket"),
        ("MOVIE", "Movie ticket"),
        ("AIR_TICKET", "Flight ticket"),
        ("TRAIN_TICKET", "Train ticket"),
        ("BUS_TICKET", "Bus ticket"),
        ("SHIP_TICKET", "Ferry ticket"),
        ("HOVERCRAFT", "HOVERCRAFT"),
    ],
)
def test_products_in_plain_words(product: str, words: str) -> None:
    text = plan_text(make_plan([create("x", body("x", product=product))]))
    assert f"  Product:       {words}" in text.splitlines()


@pytest.mark.parametrize(
    ("cents", "currency", "shown"),
    [
        (2800, "HKD", "HK$28.00"),
        (5, "HKD", "HK$0.05"),
        (0, "HKD", "HK$0.00"),
        (123456789, "HKD", "HK$1,234,567.89"),
        (1250, "USD", "USD 12.50"),
        (-300, "HKD", "-HK$3.00"),
        (1250, None, "12.50"),
    ],
)
def test_money(cents: int, currency: str | None, shown: str) -> None:
    assert money(cents, currency) == shown


@pytest.mark.parametrize(
    ("current", "original", "currency", "shown"),
    [
        (2800, 3800, "HKD", "HK$28.00 (was HK$38.00)"),
        (2800, 2800, "HKD", "HK$28.00"),
        (2800, None, "HKD", "HK$28.00"),
        (None, 3800, "HKD", "no selling price (original HK$38.00)"),
        (2800, None, None, "28.00, no currency code"),
    ],
)
def test_price_words(
    current: int | None, original: int | None, currency: str | None, shown: str
) -> None:
    price = PriceDocument(current_cent=current, original_cent=original, currency=currency)
    assert price_words(price) == shown


def test_no_price_and_dates_in_hong_kong_time() -> None:
    midnight_utc = 1798761600000  # 2027-01-01T00:00:00Z
    payload = body("x", current=None, original=None, currency=None, start=midnight_utc)
    lines = entry(plan_text(make_plan([create("x", payload)])), "x")
    assert "  Price:         not set" in lines
    assert "  Dates:         2027-01-01 08:00 HKT to 2027-12-31 23:59 HKT" in lines


def test_colour_only_when_asked() -> None:
    plan = mixed_plan()
    assert "\x1b" not in plan_text(plan)
    coloured = plan_text(plan, color=True)
    assert "\x1b[1m\x1b[32mcreate   coffee-voucher\x1b[0m" in coloured
    assert "\x1b[1m\x1b[33mreplace  flight-hkg-tpe\x1b[0m" in coloured
    assert "\x1b[1m\x1b[33mretire   rail-guangzhou\x1b[0m" in coloured
    assert "\x1b[1m\x1b[31mblocked  museum-pass\x1b[0m" in coloured
    assert "\x1b[1m\x1b[31munknown  ferry-macau\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plan_text(plan)


def test_options_are_shown_as_flags() -> None:
    options = PlanOptions(targets=("gift-card[100]",), replace=("museum-pass",), retry_unknown=True)
    text = plan_text(make_plan([], options=options))
    assert text.splitlines()[2] == (
        "Options: --select 'gift-card[100]' --replace museum-pass --retry-unknown"
    )


# --- hostile catalog text ---------------------------------------------------------------------

HOSTILE = [
    "</details><script>alert(1)</script>",
    "a | b | c",
    "`rm -rf` ```",
    "x\n::set-output name=approved::true",
    "::error file=a.py::forged",
    "ok ##[error]forged annotation",
    "\x1b]0;owned\x07\x1b[2J",
    "evil\u202egnp.exe",
    "line\u2028separator",
    "@octocat ![pixel](https://evil.example/p.png) *bold* $x$",
]


def hostile_plan() -> Plan:
    steps: list[PlanStep] = []
    for index, name in enumerate(HOSTILE):
        payload = body(f"h{index}", zh=name, en=name)
        old = body(f"h{index}", zh="舊", en="old")
        steps.append(
            create(f"h{index}", payload) if index % 2 else blocked(f"h{index}", old, payload)
        )
    return make_plan(steps, environment="sandbox")


def assert_no_workflow_command(text: str) -> None:
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), line
    assert "##[" not in text.replace("##[\\", "")


def test_text_keeps_hostile_names_on_their_own_line_and_inert() -> None:
    text = plan_text(hostile_plan())
    assert_no_workflow_command(text)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\u2028" not in text
    # Creates (odd) show their card, names included; blocked entries (even) a Name line.
    assert "    Name:        x\\n::set-output name=approved::true" in text.splitlines()
    assert "  Name (en_US):  \\u001b]0;owned\\u0007\\u001b[2J" in text.splitlines()
    assert "    Name:        ok ##[\\error]forged annotation" in text.splitlines()
    # Every entry has exactly its usual lines: nothing was split or joined, except that each
    # locale's description (the name and a full stop) keeps its line breaks.
    usual = len(entry(plan_text(make_plan([create("h", body("h"))])), "h"))
    for index in range(1, len(HOSTILE), 2):
        breaks = 2 * HOSTILE[index].count("\n")
        assert len(entry(text, f"h{index}")) == usual + breaks
    assert "                 | ::set-output name=approved::true." in text.splitlines()


def test_an_invisible_edit_is_visible_in_the_diff() -> None:
    edited = ticket("museum-pass", "PASS", "博物館通行證", "Museum\u200bPass", 12000)
    lines = entry(plan_text(make_plan([blocked("museum-pass", MUSEUM_OLD, edited)])), "museum-pass")
    assert '    localeInfo.en_US.name: "Museum Pass" -> "Museum\\u200bPass"' in lines
    assert "  Name (en_US):  Museum\\u200bPass" in lines


def test_emoji_sequences_are_left_alone() -> None:
    family = "Family pass \U0001f468\u200d\U0001f469\u200d\U0001f467"
    text = plan_text(make_plan([create("family", body("family", en=family))]))
    assert f"    Name:        {family}" in text.splitlines()


def test_markdown_escapes_hostile_names() -> None:
    markdown = plan_markdown(hostile_plan())
    assert_no_workflow_command(markdown)
    assert "<script>" not in markdown
    assert "`rm" not in markdown
    assert markdown.count("<details") == markdown.count("</details>") == len(HOSTILE)
    for line in markdown.splitlines():
        if line.startswith("| <code>"):  # a change row: field, published, catalog
            assert line.count("|") == 4, line
    assert "&lt;/details&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "a &#124; b &#124; c" in markdown
    assert (
        "&#64;octocat &#33;&#91;pixel&#93;(https://evil.example/p.png) &#42;bold&#42;" in markdown
    )
    assert "x&#92;n::set-output name=approved::true" in markdown
    assert "\x1b" not in markdown
    assert "\u202e" not in markdown


def test_hostile_names_survive_the_json_round_trip() -> None:
    plan = hostile_plan()
    text = plan_json(plan)
    assert "##[" not in text
    assert_no_workflow_command(text)
    document = read_plan_document(text, where="plan.json")
    assert [s.names.en_US for s in document.steps] == [
        s.names.en_US for s in plan_document(plan).steps
    ]


# --- markdown ---------------------------------------------------------------------------------


def test_markdown_summary_and_table_of_counts() -> None:
    markdown = plan_markdown(mixed_plan())
    assert markdown.startswith(
        "### ipass plan\n\n"
        "**Plan for sandbox: 1 blocked, 1 with an unknown outcome, 3 to create, 1 to replace, "
        "1 to retry, 1 to retire, 2 unchanged.**\n\n"
        "Publishes to embedded sandbox for merchant 2160120000000001.\n\n"
        "| Action | Entries |\n|---|---:|\n"
        "| 🔴 blocked | 1 |\n| 🔴 with an unknown outcome | 1 |\n"
        "| 🟢 to create | 3 |\n| 🟡 to replace | 1 |\n| 🟡 to retry | 1 |\n"
        "| 🔵 to move | 0 |\n| 🔵 to adopt | 0 |\n"
        "| 🟡 to retire | 1 |\n| ⚪ unchanged | 2 |\n"
    )
    assert markdown.endswith(
        f"<sub>state {LINEAGE[:8]}, serial 7; catalog "
        f"{mixed_plan().binding.catalog_hash[:12]}</sub>\n"
    )


def test_markdown_has_one_collapsible_block_per_entry_needing_attention() -> None:
    markdown = plan_markdown(mixed_plan())
    keys = [
        "museum-pass",
        "ferry-macau",
        "cinema",
        "coffee-voucher",
        "gift-card&#91;500&#93;",
        "flight-hkg-tpe",
        "bus-shenzhen-bay",
        "rail-guangzhou",
    ]
    assert summaries(markdown) == keys
    link = f"{APP}&amp;page=pages/use/index&amp;query=key%3Dcoffee-voucher"
    assert details(markdown, "coffee-voucher") == (
        "<details open><summary>🟢 <b>create</b> <code>coffee-voucher</code> · "
        "<code>Coffee Voucher</code></summary>\n\n"
        "- **Why:** new entry\n"
        "- **Product:** Gift card / coupon\n"
        "- **Price:** HK&#36;28.00 (was HK&#36;38.00)\n"
        "- **Dates:** 2027-01-01 00:00 HKT to 2027-12-31 23:59 HKT\n"
        "- **Source:** <code>catalog/templates/coffee-voucher.yaml</code>\n"
        "\n| Text | zh_HK | en_US |\n|---|---|---|\n"
        "| **Name** | <code>咖啡券</code> | <code>Coffee Voucher</code> |\n"
        "| **Subtitle** | not set | not set |\n"
        "| **Brand** | <code>珍珠河</code> | <code>Pearl River</code> |\n"
        "| **Description** | <code>咖啡券。</code> | <code>Coffee Voucher.</code> |\n\n"
        f"- **Image:** <code>{CDN}/coffee-voucher-350.png</code>\n"
        f"- **Logo:** <code>{CDN}/brand/logo-200.png</code>\n"
        "- **Categories:** <code>CoffeeAndTea</code>\n"
        "- **Stock:** 5,000\n"
        "- **Code:** <code>qrcode (QRCODE)</code>\n"
        "- **Button:** <code>usage</code>\n"
        f"- **Button link:** <code>{link}</code>\n"
        "- **Order page:** not set\n"
        "- **Detail page:** not set\n"
        "- **Exposure:** <code>exposed</code>\n"
        f"- **Merchant:** <code>{MERCHANT}</code>\n"
        "\n</details>"
    )


def test_markdown_blocked_entry_is_open_with_a_side_by_side_table() -> None:
    block = details(plan_markdown(mixed_plan()), "museum-pass")
    assert block.startswith("<details open><summary>🔴 <b>blocked</b> <code>museum-pass</code>")
    assert (
        "| Field | Published | Catalog |\n|---|---|---|\n"
        "| <code>currentAmountCent</code> | <code>12000 (HK&#36;120.00)</code> "
        "| <code>9900 (HK&#36;99.00)</code> |\n"
        '| <code>localeInfo.en&#95;US.name</code> | <code>"Museum Pass"</code> '
        '| <code>"Museum Pass XL"</code> |\n'
        "| <code>localeInfo.en&#95;US.subName</code> | <code>(not set)</code> "
        '| <code>"All galleries"</code> |\n'
    ) in block
    assert (
        "**Way out:**\n"
        "- change the catalog as the Why line says (e.g. raise &#96;revision:&#96;), or\n"
        "- in an emergency: "
        "<code>ipass apply --env sandbox --replace museum-pass --reason TEXT</code>\n"
    ) in block


def test_markdown_unknown_entry_is_open_with_commands() -> None:
    block = details(plan_markdown(mixed_plan()), "ferry-macau")
    assert block.startswith("<details open><summary>🔴 <b>unknown</b>")
    assert (
        "- not created: <code>ipass state resolve ferry-macau --env sandbox --not-created</code>\n"
    ) in block
    assert "&#96;ipass state resolve&#96;" in block  # the reason's backticks are shown, inert


def test_markdown_lists_unchanged_entries_compactly() -> None:
    markdown = plan_markdown(mixed_plan())
    assert (
        "<details><summary>⚪ 2 unchanged</summary>\n\n"
        "<code>gift-card&#91;100&#93;</code>, <code>gift-card&#91;200&#93;</code>\n\n</details>\n"
    ) in markdown
    assert "[!NOTE]" not in markdown


def big_plan(count: int = 2000) -> Plan:
    steps: list[PlanStep] = []
    for index in range(count):
        key = f"voucher-{index:04d}"
        payload = body(key, en=f"Voucher {index}", zh=f"優惠券 {index}")
        if index % 10 == 9:
            steps.append(noop(key, payload))
        elif index % 10 == 5:
            steps.append(blocked(key, body(key, en="Voucher"), payload))
        else:
            steps.append(create(key, payload))
    return make_plan(steps)


def test_markdown_of_a_large_plan_is_cut_at_an_entry_with_a_note() -> None:
    plan = big_plan()
    markdown = plan_markdown(plan)
    assert len(markdown) < 60_000
    shown = len(summaries(markdown))
    assert markdown.count("<details") == markdown.count("</details>") == shown  # none unclosed
    left_out = 2000 - shown
    assert 0 < shown < 2000
    assert shown < 200  # blocked entries come first, and not even all of them fit
    assert (
        f"> **{left_out:,} of 2,000 entries are not shown** ({200 - shown} blocked, "
        "1,600 to create, 200 unchanged) to keep this comment short enough for GitHub. "
        "Run <code>ipass plan --env sandbox</code> locally to see the whole plan.\n"
    ) in markdown
    assert markdown.endswith("</sub>\n")
    assert len(markdown) > 55_000  # cut near the limit, not far before it
    creates = [f"voucher-{i:04d}" for i in range(2000) if i % 10 not in (5, 9)]
    blocked_keys = [f"voucher-{i:04d}" for i in range(2000) if i % 10 == 5]
    assert summaries(markdown) == [*blocked_keys, *creates][:shown]


def test_markdown_cut_inside_the_unchanged_list_still_closes_it() -> None:
    steps = [create("a-new", body("a-new"))]
    steps += [noop(f"kept-{i:04d}", body(f"kept-{i:04d}")) for i in range(1000)]
    markdown = plan_markdown(make_plan(steps), limit=5_000)
    assert len(markdown) < 5_000
    assert markdown.count("<details") == markdown.count("</details>") == 2
    shown = markdown.count("<code>kept-")
    assert 0 < shown < 1000
    assert (
        f"**{1000 - shown:,} of 1,001 entries are not shown** ({1000 - shown:,} unchanged)"
        in markdown
    )
    assert ", \n" not in markdown


@pytest.mark.parametrize("limit", [1_000, 3_000, 10_000, 60_000])
def test_markdown_stays_under_any_reasonable_limit(limit: int) -> None:
    markdown = plan_markdown(big_plan(300), limit=limit)
    assert len(markdown) < limit


def test_markdown_refuses_a_limit_below_its_summary() -> None:
    with pytest.raises(ValueError, match="too small"):
        plan_markdown(big_plan(50), limit=200)


# --- the JSON document ------------------------------------------------------------------------


def test_plan_json_is_deterministic() -> None:
    text = plan_json(mixed_plan())
    assert text == plan_json(mixed_plan())
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    assert "咖啡券" in text  # readable, not \\u escapes


def test_plan_json_does_not_depend_on_payload_key_order() -> None:
    payload = body("coffee-voucher")
    shuffled = dict(reversed(list(payload.items())))
    assert plan_json(make_plan([create("coffee-voucher", shuffled)])) == plan_json(
        make_plan([create("coffee-voucher", payload)])
    )


def test_document_fields() -> None:
    document = plan_document(mixed_plan())
    assert document.format == "ipass-plan"
    assert document.format_version == 6
    assert document.has_changes is True
    steps = {step.key: step for step in document.steps}
    create_step = steps["coffee-voucher"]
    assert create_step.type == "COUPON"
    assert create_step.product == "GIFT_CARD"
    assert create_step.names.zh_HK == "咖啡券"
    assert create_step.names.en_US == "Coffee Voucher"
    assert (create_step.price and create_step.price.current_cent) == 2800
    assert create_step.start is not None
    assert create_step.start.ms == START
    assert create_step.start.hong_kong == "2027-01-01 00:00 HKT"
    assert create_step.send is not None
    assert create_step.request_id == create_step.send["requestId"]
    assert create_step.template_code is None
    assert create_step.source == "catalog/templates/coffee-voucher.yaml"
    card = create_step.card
    assert card is not None
    assert card.zh_HK is not None
    assert card.zh_HK.name == "咖啡券"
    assert card.zh_HK.description == "咖啡券。"
    assert card.zh_HK.sub_name is None
    assert card.en_US is not None
    assert card.en_US.brand_name == "Pearl River"
    assert card.image_url == f"{CDN}/coffee-voucher-350.png"
    assert card.logo_url == f"{CDN}/brand/logo-200.png"
    assert card.categories == ("CoffeeAndTea",)
    assert card.stock == 5000
    assert (card.code_type, card.code_standard) == ("qrcode", "QRCODE")
    assert card.button is not None
    assert card.button.type == "usage"
    assert card.merchant_id == MERCHANT
    assert card.biz_mids == ()
    assert card.ticket_details is None
    retire_step = steps["rail-guangzhou"]
    assert retire_step.template_code == "2024110122003"
    assert retire_step.send is None
    assert retire_step.names.en_US == "West Kowloon–Guangzhou"  # from the recorded payload
    assert retire_step.card is not None
    assert retire_step.card.en_US is not None
    assert retire_step.card.en_US.name == "West Kowloon–Guangzhou"
    blocked_step = steps["museum-pass"]
    assert blocked_step.names.en_US == "Museum Pass XL"  # the catalog's, with the changes
    assert [c.path for c in blocked_step.changes] == [
        "currentAmountCent",
        "localeInfo.en_US.name",
        "localeInfo.en_US.subName",
    ]
    assert blocked_step.changes[2].added
    assert blocked_step.changes[2].old is None
    retry_step = steps["bus-shenzhen-bay"]
    assert retry_step.request_id == retry_step.recorded_request_id
    assert steps["flight-hkg-tpe"].generation == 1


def test_hashes_are_the_catalog_entry_s_and_the_recorded_one() -> None:
    steps = {step.key: step for step in plan_document(mixed_plan()).steps}
    create_step, retire_step = steps["coffee-voucher"], steps["rail-guangzhou"]
    assert create_step.payload_hash == digest(body("coffee-voucher"))
    assert create_step.recorded_payload_hash is None
    assert retire_step.payload_hash is None  # gone from the catalog
    assert retire_step.recorded_payload_hash == digest(RAIL)
    blocked_step = steps["museum-pass"]
    assert blocked_step.payload_hash == digest(MUSEUM_NEW)
    assert blocked_step.recorded_payload_hash == digest(MUSEUM_OLD)


def test_a_retry_of_an_entry_edited_since_reads_back() -> None:
    """A retry re-sends the recorded body even when the catalog entry has changed since."""
    step = retry("bus-shenzhen-bay", BUS)
    edited = {**BUS, "stock": 10}
    step = replace(step, desired=desired("bus-shenzhen-bay", edited))
    document = read_plan_document(plan_json(make_plan([step])), where="plan.json")
    (read,) = document.steps
    assert read.send is not None
    assert read.send["stock"] == 5000
    assert read.payload_hash == digest(edited)
    assert read.recorded_payload_hash == digest(BUS)
    assert read.names.en_US == "Shenzhen Bay Bus"


def test_summary_always_has_all_nine_actions() -> None:
    data = json.loads(plan_json(make_plan([create("a", body("a"))])))
    assert data["summary"] == {
        "create": 1,
        "no-op": 0,
        "blocked": 0,
        "replace": 0,
        "retire": 0,
        "unknown": 0,
        "retry": 0,
        "move": 0,
        "adopt": 0,
    }
    assert data["has_changes"] is True
    assert json.loads(plan_json(make_plan([noop("a", body("a"))])))["has_changes"] is False


def test_saved_plan_reads_back_identically() -> None:
    plan = mixed_plan()
    document = read_plan_document(plan_json(plan), where="plan.json")
    assert document == plan_document(plan)
    assert plan_text(document) == plan_text(plan)
    assert plan_markdown(document) == plan_markdown(plan)


def resealed(data: dict[str, JsonValue]) -> str:
    """An edited plan with its digest recomputed (anyone can), so the checks after it are met."""
    data.pop("digest", None)
    data["digest"] = sha256_hex(canonical_json(data))
    return json.dumps(data)


def saved(**changes: object) -> str:
    data = json.loads(plan_json(mixed_plan()))
    data.update(changes)
    return resealed(data)


def tampered_send() -> str:
    data = json.loads(plan_json(mixed_plan()))
    step = next(s for s in data["steps"] if s["key"] == "coffee-voucher")
    step["send"]["currentAmountCent"] = 1
    return resealed(data)


def tampered_retry() -> str:
    data = json.loads(plan_json(mixed_plan()))
    step = next(s for s in data["steps"] if s["key"] == "bus-shenzhen-bay")
    step["send"]["stock"] = 1
    return resealed(data)


def send_on_a_blocked_step() -> str:
    data = json.loads(plan_json(mixed_plan()))
    step = next(s for s in data["steps"] if s["key"] == "museum-pass")
    step["send"] = {"requestId": "x"}
    return resealed(data)


def miscounted() -> str:
    data = json.loads(plan_json(mixed_plan()))
    data["summary"]["create"] = 2
    return resealed(data)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty (truncated?)"),
        ("{\n", "is not valid JSON (line 2: Expecting property name enclosed in double quotes)"),
        ("[]", 'is not an ipass plan (no "format": "ipass-plan")'),
        ('{"format_version": 1}', 'is not an ipass plan (no "format": "ipass-plan")'),
        (
            saved(format_version=5),
            "has format_version 5 (made by an older ipass); this ipass reads version 6",
        ),
        (
            saved(format_version=7),
            "has format_version 7 (made by a newer ipass); this ipass reads version 6",
        ),
        (saved(format_version="6"), "has format_version '6'; this ipass reads version 6"),
        (
            saved(has_changes=False),
            "has a has_changes flag that contradicts its steps (edited by hand?)",
        ),
        (miscounted(), "has a summary that does not count its steps (edited by hand?)"),
        (
            tampered_send(),
            "step 'coffee-voucher': its send body does not match its payload_hash "
            "(edited by hand?)",
        ),
        (
            tampered_retry(),
            "step 'bus-shenzhen-bay': its send body does not match its recorded_payload_hash "
            "(edited by hand?)",
        ),
        (send_on_a_blocked_step(), "step 'museum-pass': a blocked step cannot carry a send body"),
    ],
)
def test_refuses_a_malformed_or_other_version_plan(text: str, problem: str) -> None:
    with pytest.raises(ConflictError) as caught:
        read_plan_document(text, where="plans/pr-12.json")
    assert caught.value.message == f"saved plan plans/pr-12.json {problem}"
    assert caught.value.hint == (
        "run `ipass plan --out FILE` again, review it, and apply the new file"
    )


@pytest.mark.parametrize(
    ("text", "field"), [(saved(binding=None), "binding"), (saved(extra=True), "extra")]
)
def test_a_malformed_plan_names_the_field(text: str, field: str) -> None:
    # After the field comes pydantic's own sentence, not ours to pin.
    with pytest.raises(ConflictError) as caught:
        read_plan_document(text, where="plans/pr-12.json")
    assert caught.value.message.startswith(f"saved plan plans/pr-12.json is malformed at {field}: ")
    assert caught.value.hint == (
        "run `ipass plan --out FILE` again, review it, and apply the new file"
    )


def test_refuses_a_truncated_plan() -> None:
    text = plan_json(mixed_plan())
    with pytest.raises(ConflictError, match="is not valid JSON"):
        read_plan_document(text[: len(text) // 2], where="plan.json")


def test_committed_plan_schema_is_current() -> None:
    committed = REPO / "schemas" / "plan.schema.json"
    assert committed.exists(), "write schemas/plan.schema.json from plan_json_schema()"
    assert committed.read_text(encoding="utf-8") == schema_text(plan_json_schema()), (
        "schemas/plan.schema.json is stale: regenerate it from plan_json_schema()"
    )


def test_plan_schema_describes_the_document() -> None:
    schema = plan_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "ipass plan (ipass-plan version 6)"
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    summary = defs["SummaryDocument"]
    assert sorted(summary["required"]) == sorted(action.value for action in Action)


# --- with the real planner --------------------------------------------------------------------


def test_renders_whatever_compute_plan_produces() -> None:
    kept, edited, gone, pending = (body(k) for k in ("kept", "edited", "gone", "pending"))
    state = State(
        lineage=LINEAGE,
        serial=3,
        environment="sandbox",
        entries={
            "kept": StateEntry(current=record("kept", kept, code="T1")),
            "edited": StateEntry(current=record("edited", edited, code="T2")),
            "gone": StateEntry(current=record("gone", gone, code="T3")),
            "pending": StateEntry(current=record("pending", pending, status="pending")),
        },
    )
    wanted = {
        "kept": desired("kept", kept),
        "edited": desired("edited", {**edited, "stock": 10}),
        "pending": desired("pending", pending),
        "new": desired("new", body("new")),
    }
    retired = {"gone": Retirement("gone", "catalog/retired.yaml:1", "promotion over")}
    plan = compute_plan(
        wanted, state, snapshot_lineage=LINEAGE, destination=DESTINATION, retirements=retired
    )
    document = read_plan_document(plan_json(plan), where="plan.json")
    assert {s.key: s.action for s in document.steps} == {
        "edited": Action.BLOCKED,
        "gone": Action.RETIRE,
        "kept": Action.NOOP,
        "new": Action.CREATE,
        "pending": Action.UNKNOWN,
    }
    assert "    stock: 5000 -> 10" in plan_text(plan).splitlines()
    assert len(plan_markdown(plan)) < 60_000
    retried = compute_plan(
        wanted,
        state,
        snapshot_lineage=LINEAGE,
        destination=DESTINATION,
        options=replace(PlanOptions(), retry_unknown=True),
        retirements=retired,
    )
    steps = {s.key: s for s in read_plan_document(plan_json(retried), where="p").steps}
    assert steps["pending"].action is Action.RETRY
    assert steps["pending"].send is not None
    assert steps["pending"].request_id == steps["pending"].recorded_request_id


def test_plan_help_lists_every_action_as_the_readme_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = run_cli(capsys, "plan", "--help")
    assert run.code == 0
    listed = [line.split()[0] for line in run.out.splitlines() if re.match(r"^ {4}[a-z]", line)]
    section = (REPO / "README.md").read_text(encoding="utf-8").split("### The plan", 1)[1]
    section = re.split(r"^#{2,3} ", section, maxsplit=1, flags=re.M)[0]
    table = re.findall(r"^\| `([a-z-]+)` \| ", section, re.M)
    assert listed == table
    assert set(listed) == {action.value for action in Action}
    assert "gone from the catalog)" not in run.out  # a key gone undeclared is blocked, not retired
