"""X-Subject: any valid subject survives the trip; blank, oversized and undecodable values are refused."""

from __future__ import annotations

import pytest

from service_kit.subject import MAX_SUBJECT_BYTES, InvalidSubject, check_subject, decode_subject, encode_subject

VALID = ["alice", "用户", "a" * 300, "ü" * (MAX_SUBJECT_BYTES // 2), "auth0|5f7c8ec7c33c6c004bbafe82", "a b", "100%"]


@pytest.mark.parametrize("subject", VALID)
def test_every_valid_subject_round_trips_as_an_ascii_header_value(subject: str) -> None:
    encoded = encode_subject(subject)
    assert encoded.isascii()
    assert all(ch.isalnum() or ch in "%-._~" for ch in encoded)
    assert decode_subject(encoded) == subject
    assert decode_subject(encoded.encode()) == subject


@pytest.mark.parametrize(
    "subject", ["", " ", "\t", " \t\n", "a" * (MAX_SUBJECT_BYTES + 1), "用" * 342, "\ud800", "a\x00b"]
)
def test_a_blank_oversized_or_invalid_subject_cannot_be_sent(subject: str) -> None:
    with pytest.raises(InvalidSubject):
        encode_subject(subject)


@pytest.mark.parametrize("raw", [b"", b"%20", b"%09%20", b"%FF%FE", b"%C3", b"%00", b"x" * (3 * MAX_SUBJECT_BYTES + 1)])
def test_a_present_header_never_means_no_subject(raw: bytes) -> None:
    with pytest.raises(InvalidSubject):
        decode_subject(raw)


def test_an_absent_header_is_no_subject() -> None:
    assert decode_subject(None) is None


def test_the_bound_is_bytes_of_utf8_not_characters() -> None:
    assert check_subject("a" * MAX_SUBJECT_BYTES)
    with pytest.raises(InvalidSubject, match="1024 bytes"):
        check_subject("ü" * (MAX_SUBJECT_BYTES // 2 + 1))
