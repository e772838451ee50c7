"""Email address normalization and the free-mail domains that never name a company."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext as _

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.co.jp", "ymail.ne.jp", "yahoo.com",
        "hotmail.com", "hotmail.co.jp", "outlook.com", "outlook.jp", "live.jp", "live.com",
        "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "protonmail.com",
        "proton.me", "docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp",
        "i.softbank.jp", "nifty.com", "biglobe.ne.jp", "ocn.ne.jp", "so-net.ne.jp",
        "excite.co.jp", "mail.com", "zoho.com", "gmx.com", "rakuten.jp",
    }
)  # fmt: skip

_validate = EmailValidator()


def normalize_email(raw: str) -> str:
    """Return the canonical form of an address, or raise ValidationError.

    Full-width characters typed on Japanese keyboards (ｙａｍａｄａ＠…) are
    folded with NFKC; surrounding spaces go; the whole address is lower-cased
    (no mail system Kizuki sends through treats the local part by case).
    """
    value = unicodedata.normalize("NFKC", str(raw or "")).strip().strip("<>").strip()
    value = value.lower()
    if not value:
        raise ValidationError(_("An email address is required."), code="required")
    try:
        _validate(value)
    except ValidationError:
        raise ValidationError(
            _("“%(value)s” is not a valid email address."),
            code="invalid",
            params={"value": raw},
        ) from None
    return value


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1]


def is_free_mail(email: str) -> bool:
    return email_domain(email) in FREE_MAIL_DOMAINS
