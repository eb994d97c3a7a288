"""The caller's subject on internal calls: ``X-Subject`` as percent-encoded UTF-8, with one bound.

An identity provider's ``sub`` may hold any Unicode character (``用户``) and be long (a 300-character ``sub`` is
valid), while an HTTP header value is Latin-1 at best. Percent-encoding every byte outside the unreserved set makes
any subject a plain ASCII header value that cannot fail to encode, and decodes back to exactly the same string.
The bound (1 KiB of UTF-8) is well above what identity providers issue (OpenID Connect caps ``sub`` at 255 ASCII
characters); a blank subject is never a subject, because the runtime would take it for "no owner checks".
"""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

SUBJECT_HEADER = "X-Subject"
MAX_SUBJECT_BYTES = 1024  # of UTF-8, before percent-encoding
MAX_ENCODED_SUBJECT = 3 * MAX_SUBJECT_BYTES  # every byte as %XX


class InvalidSubject(ValueError):
    """A subject that is blank, too long, holds a NUL or is not UTF-8; the message says which (never the subject)."""


def check_subject(subject: str) -> str:
    """``subject`` if it may own sessions: not blank, at most ``MAX_SUBJECT_BYTES`` of UTF-8."""
    if not subject.strip():
        raise InvalidSubject("the subject is blank")
    if "\x00" in subject:
        raise InvalidSubject("the subject contains a NUL character")
    try:
        size = len(subject.encode())
    except UnicodeEncodeError:  # a lone surrogate: not text any system can store
        raise InvalidSubject("the subject is not valid Unicode") from None
    if size > MAX_SUBJECT_BYTES:
        raise InvalidSubject(f"the subject is longer than {MAX_SUBJECT_BYTES} bytes of UTF-8")
    return subject


def encode_subject(subject: str) -> str:
    """The ``X-Subject`` value for ``subject`` (checked first)."""
    return quote(check_subject(subject), safe="")


def decode_subject(raw: bytes | str | None) -> str | None:
    """The subject an ``X-Subject`` value carries; ``None`` when the header is absent. ``InvalidSubject`` for a
    present but empty, blank, oversized or undecodable value: an empty header never means "no subject"."""
    if raw is None:
        return None
    encoded = raw.encode("latin-1") if isinstance(raw, str) else raw
    if len(encoded) > MAX_ENCODED_SUBJECT:
        raise InvalidSubject(f"the subject is longer than {MAX_SUBJECT_BYTES} bytes of UTF-8")
    try:
        subject = unquote_to_bytes(encoded).decode()
    except UnicodeDecodeError:
        raise InvalidSubject("the subject is not percent-encoded UTF-8") from None
    return check_subject(subject)
