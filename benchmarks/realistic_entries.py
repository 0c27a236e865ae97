"""The eight kinds of file in the realistic benchmark catalog, after the example catalog's eight.

Each kind writes one file from its number and a seeded `random.Random`: the names and subtitles
are plain text of its own (words chosen per entry, plus its number), every description is a
Jinja string of its own that calls `money()` and a filter, and brand names are the shared
templated strings the example uses. Texts stay within the vendor's lengths (names 12 / 24).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

Pair = tuple[str, str]  # (en_US, zh_HK)

VARS: Final = """\
# Shared variables: plain data, available by name in every {{ expression }}.
brand_zh: 珍珠河
brand_en: Pearl River
app_id: "2102020211542667"
cdn: https://cdn.pearlriver.example/ipass
season_start: 2030-01-01
season_end: 2030-12-31T23:59:59+08:00
"""

DRINKS: Final[tuple[Pair, ...]] = (
    ("Latte", "拿鐵"),
    ("Flat White", "澳白"),
    ("Mocha", "摩卡"),
    ("Cappuccino", "泡沫咖啡"),
    ("Milk Tea", "奶茶"),
    ("Lemon Tea", "檸檬茶"),
    ("Americano", "美式咖啡"),
    ("Yuenyeung", "鴛鴦"),
)
DISTRICTS: Final[tuple[Pair, ...]] = (
    ("Central", "中環"),
    ("Mong Kok", "旺角"),
    ("Causeway Bay", "銅鑼灣"),
    ("Tsim Sha Tsui", "尖沙咀"),
    ("Sha Tin", "沙田"),
    ("Tsuen Wan", "荃灣"),
    ("Kwun Tong", "觀塘"),
    ("Sai Kung", "西貢"),
    ("Tai Po", "大埔"),
    ("Aberdeen", "香港仔"),
)
TIMES: Final[tuple[Pair, ...]] = (
    ("morning", "早上"),
    ("afternoon", "下午"),
    ("evening", "晚上"),
    ("weekend", "週末"),
)
RULES: Final[tuple[Pair, ...]] = (
    ("One per visit; no change given.", "每次消費限用一張，不設找續。"),
    ("Not refundable once sold.", "一經售出，恕不退換。"),
    ("Cannot be combined with other offers.", "不可與其他優惠同時使用。"),
    ("Show the code before you pay.", "付款前請出示二維碼。"),
    ("Valid on public holidays.", "公眾假期適用。"),
    ("While stocks last.", "數量有限，送完即止。"),
    ("Seats are allocated on arrival.", "座位於到達時分配。"),
    ("Children under 3 travel free.", "三歲以下小童免費。"),
)
PLACES: Final[dict[str, tuple[Pair, ...]]] = {
    "bus": (
        ("Shenzhen Bay", "深圳灣"),
        ("Huanggang", "皇崗"),
        ("Zhuhai", "珠海"),
        ("Dongguan", "東莞"),
    ),
    "ferry": (("Macau", "澳門"), ("Taipa", "氹仔"), ("Shekou", "蛇口"), ("Zhuhai", "珠海")),
    "flight": (("Taipei", "台北"), ("Tokyo", "東京"), ("Osaka", "大阪"), ("Singapore", "新加坡")),
    "rail": (
        ("Guangzhou", "廣州南"),
        ("Futian", "福田"),
        ("Xiamen", "廈門北"),
        ("Changsha", "長沙南"),
    ),
    "cinema": (("Harbour Lights", "海港燈火"), ("Night Tram", "夜電車"), ("Monsoon", "季風")),
    "museum": (
        ("Harbour Museum", "海濱博物館"),
        ("Science Hall", "科學館"),
        ("Art House", "藝術館"),
    ),
}


@dataclass(frozen=True)
class EntryText:
    text: str
    items: tuple[str, ...] = ()  # for_each items: keys stem[item]


@dataclass(frozen=True)
class FileKind:
    folder: str
    stem: str
    write: Callable[[int, random.Random], EntryText]


def _pick(rng: random.Random, pairs: tuple[Pair, ...]) -> Pair:
    return pairs[rng.randrange(len(pairs))]


def _rules(rng: random.Random) -> tuple[Pair, Pair]:
    first, second = rng.sample(RULES, 2)
    return first, second


def _price(rng: random.Random, low: int, high: int) -> int:
    return rng.randrange(low, high) * 100 + rng.choice((0, 0, 50))


def _voucher(number: int, rng: random.Random) -> EntryText:
    drink, where, when = _pick(rng, DRINKS), _pick(rng, DISTRICTS), _pick(rng, TIMES)
    (rule_en, rule_zh), (rule2_en, rule2_zh) = _rules(rng)
    price = _price(rng, 18, 48)
    text = f"""\
# yaml-language-server: $schema=../../../../schemas/catalog-template.schema.json
# A discounted {drink[0].lower()} voucher sold in the mini-app ({where[0]}).
vars:
  price: {price}
  was: {price + _price(rng, 5, 15)}
tags: [food, launch]
type: COUPON
product: GIFT_CARD
codeType: barcode
codeStandard: CODE128
imageUrl: "{{{{ cdn }}}}/coupons/voucher-{number}-350.png"
currentAmountCent: "{{{{ price }}}}"
originalAmountCent: "{{{{ was }}}}"
stock: {rng.randrange(100, 9000)}
categories: [CoffeeAndTea]
bizMids: ["2160120041113167"]
localeInfo:
  zh_HK:
    name: {drink[1]}券{number}
    subName: {where[1]}{when[1]}適用
    brandName: "{{{{ brand_zh }}}}咖啡"
    description: |
      {{{{ money(price) }}}} 換取{where[1]}分店任何{drink[1]}（原價 {{{{ money(was) }}}}）。
      {rule_zh}{rule2_zh}
      第 {number} 號優惠，只限{when[1]}。
  en_US:
    name: {drink[0]} {number}
    subName: {where[0]}, {when[0]}s
    brandName: "{{{{ brand_en }}}} Coffee"
    description: |
      Any {drink[0].lower()} at {{{{ brand_en | upper }}}} {where[0]}
      for {{{{ money(price) }}}} (usually {{{{ money(was) }}}}).
      {rule_en} {rule2_en}
      Offer {number}, {when[0]}s only.
"""
    return EntryText(text)


def _gift_card(number: int, rng: random.Random) -> EntryText:
    faces = sorted(rng.sample((50, 100, 200, 300, 500, 1000), 3))
    values = "\n".join(
        f'  "{face}": {face * 100 - _price(rng, 0, face // 20 + 1)}' for face in faces
    )
    where = _pick(rng, DISTRICTS)
    text = f"""\
# yaml-language-server: $schema=../../../../schemas/catalog-template.schema.json
# One gift card per face value ({where[0]} launch {number}).
for_each:
{values}
tags: [gift]
type: COUPON
product: GIFT_CARD
codeType: qrcode
codeStandard: QRCODE
imageUrl: "{{{{ cdn }}}}/gift/{number}/hkd{{{{ each.key }}}}-350.png"
currentAmountCent: "{{{{ each.value }}}}"
originalAmountCent: "{{{{ each.key | int * 100 }}}}"
stock: {rng.randrange(100, 5000)}
categories: [Groceries, Others]
localeInfo:
  zh_HK:
    name: "HK${{{{ each.key }}}} 禮品卡"
    subName: {where[1]}開幕{number}
    brandName: "{{{{ brand_zh }}}}"
    description: >-
      售價 {{{{ money(each.value) }}}}，可於{{{{ brand_zh }}}}{where[1]}
      及全線分店使用（第 {number} 批）。
  en_US:
    name: "HK${{{{ each.key }}}} Gift Card"
    subName: {where[0]} opening {number}
    brandName: "{{{{ brand_en }}}}"
    description: >-
      Yours for {{{{ money(each.value) }}}}. Spend it at {{{{ brand_en | title }}}}
      {where[0]} or any shop (batch {number}).
"""
    return EntryText(text, tuple(str(face) for face in faces))


def _transport(kind: str, product: str, category: str, brand: Pair) -> FileKind:
    def write(number: int, rng: random.Random) -> EntryText:
        place, when = _pick(rng, PLACES[kind]), _pick(rng, TIMES)
        (rule_en, rule_zh), _ = _rules(rng)
        fare = _price(rng, 40, 2500)
        text = f"""\
# yaml-language-server: $schema=../../../../schemas/catalog-template.schema.json
tags: [transport, cross-border]
type: TICKET
product: {product}
exposure: hidden
imageUrl: "{{{{ cdn }}}}/tickets/{kind}-{number}-350.png"
currentAmountCent: {fare}
categories: ["{category}"]
localeInfo:
  zh_HK:
    name: 往{place[1]}{number}
    subName: {when[1]}班次
    brandName: "{{{{ brand_zh }}}}{brand[1]}"
    description: 往{place[1]}單程 {{{{ money({fare}) }}}}，{when[1]}開出。{rule_zh}班次 {number}。
  en_US:
    name: To {place[0]} {number}
    subName: {when[0].title()} departures
    brandName: "{{{{ brand_en }}}} {brand[0]}"
    description: >-
      One way to {place[0]} for {{{{ money({fare}) }}}}, leaving in the {when[0]}.
      {rule_en} Service {number}.
"""
        return EntryText(text)

    return FileKind("tickets", kind, write)


def _show(kind: str, product: str, category: str, brand: Pair) -> FileKind:
    def write(number: int, rng: random.Random) -> EntryText:
        title, where = _pick(rng, PLACES[kind]), _pick(rng, DISTRICTS)
        (rule_en, rule_zh), _ = _rules(rng)
        price = _price(rng, 60, 200)
        link = (
            "alipayhk://platformapi/startapp?appId={{ app_id }}&page=pages/detail/index&query=id%3D"
        )
        extra = '\n  country: "HK"\n  city: "HK-KLN"' if product == "PASS" else ""
        text = f"""\
# yaml-language-server: $schema=../../../../schemas/catalog-template.schema.json
tags: [entertainment]
type: TICKET
product: {product}
imageUrl: "{{{{ cdn }}}}/tickets/{kind}-{number}-350.png"
currentAmountCent: {price}
originalAmountCent: {price + _price(rng, 5, 40)}
detailLink: "{link}{number}"
categories: ["{category}"]
passExtInfo:
  tags: [{title[0].split()[0]}, {where[0].split()[0]}]{extra}
localeInfo:
  zh_HK:
    name: {title[1]}{number}
    subName: {where[1]}{brand[1]}
    brandName: "{{{{ brand_zh }}}}{brand[1]}"
    description: |
      《{title[1]}》門票 {{{{ money({price}) }}}}，於{where[1]}使用。
      {rule_zh}編號 {number}。
  en_US:
    name: {title[0]} {number}
    subName: {brand[0]} {where[0]}
    brandName: "{{{{ brand_en }}}} {brand[0]}"
    description: |
      {title[0]} at {{{{ brand_en | upper }}}} {where[0]}: {{{{ money({price}) }}}}.
      {rule_en} Number {number}.
"""
        return EntryText(text)

    return FileKind("tickets", kind, write)


# The example catalog's eight files, in this order: 2 coupons (one a 3-item for_each), 6 tickets.
FILE_KINDS: Final[tuple[FileKind, ...]] = (
    FileKind("coupons", "voucher", _voucher),
    FileKind("coupons", "gift-card", _gift_card),
    _transport("bus", "BUS_TICKET", "0003000300010001", ("Coaches", "巴士")),
    _show("cinema", "MOVIE", "0002000100030001", ("Cinemas", "戲院")),
    _transport("ferry", "SHIP_TICKET", "0003000400010001", ("Ferries", "船務")),
    _transport("flight", "AIR_TICKET", "0003000100010001", ("Air", "航空")),
    _show("museum", "PASS", "0002000100020009", ("Culture", "文化")),
    _transport("rail", "TRAIN_TICKET", "0003000200010001", ("Rail", "鐵路")),
)
