"""The two iPass operations and the gateway paths reserved next to them."""

from __future__ import annotations

from typing import Final

CREATE_TEMPLATE_PATH: Final = "/api/open/alipay/v1/ipass/template/manage/createTemplate"
CREATE_PASS_PATH: Final = "/api/open/alipay/v1/ipass/pass/manage/createPass"  # noqa: S105 - a URL path, "pass" is a wallet pass

# Same family, not implemented here; the sandbox answers them with INVALID_API.
RESERVED_PATHS: Final = (
    "/api/open/alipay/v1/ipass/template/manage/updateTemplate",
    "/api/open/alipay/v1/ipass/template/manage/detail",
    "/api/open/alipay/v1/ipass/pass/manage/updatePass",
)

PRODUCTION_BASE_URL: Final = "https://open.alipay.hk"
TESTING_BASE_URL: Final = "https://business.dl.alipaydev.com"
