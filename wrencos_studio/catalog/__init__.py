"""The shop's catalog without Qt: product rules, prices (Babel), images (Pillow), CSV.

The hub validates products with :mod:`.products`; the studio calls
:func:`.images.store_product_image`, :func:`.csv_import.import_products` and
:func:`.money.format_price`.
"""

from wrencos_studio.catalog.money import (
    DEFAULT_CURRENCY,
    DEFAULT_LOCALE,
    check_locale,
    format_price,
    is_currency,
    parse_price,
    shop_currency,
    shop_locale,
)
from wrencos_studio.catalog.products import ProductError, check_currency, check_url

__all__ = [
    "DEFAULT_CURRENCY",
    "DEFAULT_LOCALE",
    "ProductError",
    "check_currency",
    "check_locale",
    "check_url",
    "format_price",
    "is_currency",
    "parse_price",
    "shop_currency",
    "shop_locale",
]
