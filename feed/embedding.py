"""Which sites may frame a topic's wall (/topics/<slug>/embed/): the https origins an admin lists on
the topic (`Topic.embed_origins`), sent as the embed's CSP `frame-ancestors`. Every other page
refuses every frame (X-Frame-Options DENY, frame-ancestors 'none'): a framed admin or moderation
page could be clickjacked, a framed wall only shown.

An origin is `https://host[:port]`, nothing more: a path, a wildcard or a quote would be another CSP
source expression, and a page served over plain HTTP could be anyone's on the way.
"""

import re

from django import forms
from django.core.exceptions import ValidationError

# Lower-case ASCII host names (IDNs as punycode), each label 1-63 characters, and an optional port.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
ORIGIN = re.compile(rf"https://{_LABEL}(?:\.{_LABEL})*(?::[1-9][0-9]{{0,4}})?")
MAX_ORIGINS = 20  # a policy header stays short; an event has a handful of partner sites


def origin_normalise(text: str) -> str:
    """`text` as the origin a browser compares: scheme and host lower-cased, IDNs as punycode, the
    default port and a trailing slash dropped. What is no origin comes back as typed, for the
    check to name it."""
    text = text.strip()
    match = re.fullmatch(r"(?i)https://([^/:?#@\s]+)(:[0-9]+)?/?", text)
    if not match:
        return text
    try:
        host = match.group(1).encode("idna").decode("ascii").lower()
    except UnicodeError:
        return text
    port = match.group(2) or ""
    return f"https://{host}{'' if port == ':443' else port}"


def _origin_valid(origin: str) -> bool:
    port = origin.removeprefix("https://").partition(":")[2]
    return bool(ORIGIN.fullmatch(origin)) and (not port or int(port) <= 65535)


def validate_embed_origins(value) -> None:
    """The model's check: a list of origins in their normal form (origin_normalise)."""
    if not isinstance(value, list) or not all(isinstance(origin, str) for origin in value):
        raise ValidationError("A list of origins such as https://conference.example.", code="origins")
    wrong = [origin for origin in value if not _origin_valid(origin) or origin_normalise(origin) != origin]
    if wrong:
        raise ValidationError(
            "Not an https origin: %(wrong)s. Give each site as https://host or https://host:port, "
            "with no path, no wildcard and nothing after it.",
            params={"wrong": ", ".join(wrong)},
            code="origins",
        )
    if len(value) > MAX_ORIGINS:
        raise ValidationError(f"At most {MAX_ORIGINS} sites.", code="origins")


class EmbedOriginsField(forms.CharField):
    """Origins typed one a line (or separated by commas), stored as a list in their normal form."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "placeholder": "https://conference.example"})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        typed = [part for part in re.split(r"[\s,]+", super().to_python(value) or "") if part]
        return list(dict.fromkeys(origin_normalise(part) for part in typed))

    def validate(self, value) -> None:
        super().validate(value)
        validate_embed_origins(value)
