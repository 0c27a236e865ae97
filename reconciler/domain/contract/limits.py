"""Every limit of the iPass contract, and every choice we made where the vendor is silent.

Section numbers refer to ALIPAYHK_IPASS.md. "INFERRED" marks our own choice, not the vendor's word;
the README lists them. Text lengths are in the vendor's unit (see `vendor_length`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final

# --- Identifiers -------------------------------------------------------------------------------
REQUEST_ID_MAX: Final = 32  # 2.1, 5.5
# INFERRED: visible ASCII only (samples are digits/letters); ipass derives requestId itself.
REQUEST_ID_PATTERN: Final = r"[\x21-\x7e]+"
MERCHANT_ID_MAX: Final = 64  # 2.1 [HK-OLD]; conflict #9 (32 elsewhere): accept <= 64
MERCHANT_ID_PATTERN: Final = r"[A-Za-z0-9]+"  # INFERRED: samples are 16 digits
USER_ID_MAX: Final = 32  # 3.1, 5.5
OPEN_ID_MAX: Final = 32  # 3.1, 5.5
TEMPLATE_CODE_MAX: Final = 32  # 3.1, 5.5
BIZ_SERIAL_ID_MAX: Final = 128  # 3.1, 5.5
CODE_VALUE_MAX: Final = 512  # INFERRED from conflict #10 (old page: codeInfo "string, 512")

# --- Enumerations with a length only -----------------------------------------------------------
CODE_STANDARD_MAX: Final = 16  # 2.1 (any value is accepted with promocode/none, 5.2)
URL_TYPE_MAX: Final = 32  # INFERRED: button.urlType is unknown (#21); only CODE_PAY_BTN seen

# --- URLs --------------------------------------------------------------------------------------
URL_MAX: Final = 512  # 2.1 imageUrl/merchantLogo/orderPageLink/detailLink; conflict #11, #12
BTN_URL_MAX: Final = 512  # INFERRED (2.2: "max length unknown, 512 assumed"; #30)
PLATFORM_LOGO_MAX: Final = 256  # 3.3 PASS dataInfo
APP_LINK_SCHEME: Final = "alipayhk://"  # 5.5 orderPageLink/detailLink
# 2.1 imageUrl/merchantLogo, 3.3 platformLogo: https only (INFERRED from every sample and field
# description in the reference; an image fetched over plain http can be altered on the way).
IMAGE_URL_SCHEMES: Final = ("https://",)
BTN_URL_SCHEMES: Final = ("alipayhk://", "https://")  # INFERRED (2.2: scheme rule unknown)

# --- Money and stock ---------------------------------------------------------------------------
AMOUNT_CENT_MIN: Final = 0  # 2.1
AMOUNT_CENT_MAX: Final = 100_000_000  # 2.1
STOCK_MIN: Final = 1  # 2.1, 5.3
STOCK_MAX: Final = 1_000_000  # 2.1, 5.3

# --- Lists -------------------------------------------------------------------------------------
CATEGORIES_MIN: Final = 1  # INFERRED: categories is required (5.3); an empty list labels nothing
CATEGORIES_MAX: Final = 2  # 2.1, 5.5
BIZ_MIDS_MAX: Final = 30  # 2.1, 5.5
# INFERRED: the ticket category table was not retrieved (2.5, #27). A TICKET category is the
# observed 16-digit code shape or any non-empty label up to this length.
TICKET_CATEGORY_MAX: Final = 32
TICKET_CATEGORY_CODE_DIGITS: Final = 16  # 2.5: observed `0002000100020009`

# --- localeInfo texts (2.3) --------------------------------------------------------------------
# INFERRED (#30): the vendor publishes no limits for these. Our conservative choice, modelled on
# the documented dataInfo limits where zh_HK allows half of en_US (ticketName 12 / 24, 3.3).
NAME_MAX_ZH: Final = 12
NAME_MAX_EN: Final = 24
SUB_NAME_MAX_ZH: Final = 16
SUB_NAME_MAX_EN: Final = 32
BRAND_NAME_MAX_ZH: Final = 16
BRAND_NAME_MAX_EN: Final = 32
DESCRIPTION_MAX_ZH: Final = 512
DESCRIPTION_MAX_EN: Final = 1024

# --- passExtInfo for PASS (2.4; all INFERRED: only [CLIENT] names them, no limits anywhere) -----
PASS_TAGS_MAX: Final = 20
PASS_TAG_MAX: Final = 32
REGION_CODE_MAX: Final = 32
RATING_MAX: Final = 16
JAVA_LONG_MAX: Final = 2**63 - 1  # soldNum/userNum/rateNum are Java longs in [CLIENT]
# INFERRED: no number field of the vendor is wider than a Java long, so no number anywhere in a
# body may be (|n| <= JAVA_LONG_MAX, also where the field's type is unknown); nor inf or NaN, which
# JSON cannot even write.
WIDEST_INTEGER: Final = JAVA_LONG_MAX
JAVA_INT_MAX: Final = 2**31 - 1

# --- createPass dataInfo (3.3) -----------------------------------------------------------------
TICKET_NAME_MAX_ZH: Final = 12
TICKET_NAME_MAX_EN: Final = 24
PASS_ADDRESS_MAX_ZH: Final = 24
PASS_ADDRESS_MAX_EN: Final = 48
PLATFORM_NAME_MAX_ZH: Final = 32
PLATFORM_NAME_MAX_EN: Final = 64
MOVIE_TEXT_MAX_ZH: Final = 32  # cinemaName, address, cinemaHouse
MOVIE_TEXT_MAX_EN: Final = 64
AVAILABLE_TIMES_MIN: Final = 1  # INFERRED: a ticket that can be used 0 times is a mistake
AVAILABLE_TIMES_MAX: Final = JAVA_INT_MAX  # INFERRED: no bound published

# --- Dates (1.9) -------------------------------------------------------------------------------
# INFERRED: a sanity window; values outside it are typos (seconds instead of ms, year 20226...).
DATE_MIN_YEAR: Final = 2000
DATE_MAX_YEAR: Final = 2100
HONG_KONG_UTC_OFFSET_HOURS: Final = 8  # no DST since 1979, so a fixed offset is exact

# --- Coupon categories (2.5): code -> (zh_HK, en_US) -------------------------------------------
COUPON_CATEGORIES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "Food": ("餐飲", "Food & Beverage"),
        "CoffeeAndTea": ("咖啡茶飲", "Coffee & Tea"),
        "Medical": ("醫療保健", "Medical"),
        "Cosmetics": ("美容化妝", "Cosmetics"),
        "Groceries": ("生活百貨", "Groceries"),
        "Ecommerce": ("網購", "Ecommerce"),
        "Electronics": ("電子產品", "Electronics"),
        "Games": ("遊戲娛樂", "Electronic Games"),
        "Clothing": ("服飾配件", "Clothing & Accessories"),
        "Jewellery": ("珠寶鐘錶", "Jewellery & Watches"),
        "Entertainment": ("休閒娛樂", "Entertainment"),
        "Education": ("教育", "Education"),
        "Transportation": ("交通出行", "Transportation"),
        "Others": ("其它", "Others"),
    }
)

# --- ISO 4217 alpha-3 (2.1 currencyCode) -------------------------------------------------------
# The active codes of ISO 4217 list one (2025), including fund codes and supranational units, plus
# ANG during its replacement by XCG. Left out: XTS (testing) and XXX (no currency), which can
# never price a card.
_CURRENCY_CODES: Final = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA
    XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
"""
CURRENCY_CODES: Final = frozenset(_CURRENCY_CODES.split())


def vendor_length(text: str) -> int:
    """Length as the vendor counts it: UTF-16 code units, like Java's `String.length()`.

    An emoji or any other character outside the Basic Multilingual Plane counts 2.
    """
    if text.isascii():
        return len(text)
    # surrogatepass: a lone surrogate is one unit in Java too, and must not raise here.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# --- Numbers a body may hold -------------------------------------------------------------------

NumberPath = tuple[str | int, ...]


def has_unsendable_number(value: object) -> bool:
    """True if `value` (plain JSON data) holds an int beyond WIDEST_INTEGER or an inf or NaN.

    Cheap enough to run on every body: one pass that queues only containers and skips text at
    once, no paths built (`unsendable_numbers` says where). Plain types are told by their exact
    type first (the common case); subclasses take the slower general checks.
    """
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            continue
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is int:
            if not -WIDEST_INTEGER <= item <= WIDEST_INTEGER:
                return True
        elif _unsendable_other(item, pending):
            return True
    return False


def _unsendable_other(item: object, pending: list[Any]) -> bool:
    """`has_unsendable_number` for anything but exact text, dicts, lists and ints: a float, a
    subclass of one of these (queued or checked like it), or data no number is in."""
    if isinstance(item, float):
        return not math.isfinite(item)
    if isinstance(item, dict):
        pending.extend(item.values())
    elif isinstance(item, list):
        pending.extend(item)
    elif isinstance(item, int):
        return not -WIDEST_INTEGER <= item <= WIDEST_INTEGER
    return False


def unsendable_numbers(value: object) -> Iterator[tuple[NumberPath, str]]:
    """(path, what is wrong) of each number in `value` that no vendor field takes, in order.
    Without recursion: a body received by the sandbox may be nested deeply."""
    pending: list[tuple[NumberPath, object]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            pending.extend(((*path, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            pending.extend(((*path, index), item[index]) for index in reversed(range(len(item))))
        elif isinstance(item, int) and not -WIDEST_INTEGER <= item <= WIDEST_INTEGER:
            yield (
                path,
                f"{_integer_text(item)} is beyond what AlipayHK takes in any number field "
                f"(a Java long: at most {WIDEST_INTEGER} either way)",
            )
        elif isinstance(item, float) and not math.isfinite(item):
            yield path, f"{item} is not a finite number; AlipayHK takes finite numbers only"


def _integer_text(value: int) -> str:
    bits = value.bit_length()
    if bits > 10_000:  # str() of a huge int is slow, and fails past 4300 digits
        return f"an integer of about {math.floor(bits * math.log10(2))} digits"
    if bits > 128:
        return f"an integer of {len(str(abs(value)))} digits"
    return f"the integer {value}"
