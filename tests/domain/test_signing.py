"""Signed button contexts: whatever comes back must be exactly what we handed out."""

from __future__ import annotations

from typing import Any

import pytest

from learnloop.domain.signing import SIGNATURE_FIELD, BadSignature, sign, verify

KEY = b"test-signing-key-0123456789abcdef"
OTHER_KEY = b"another-signing-key-9876543210zyx"
PAYLOAD: dict[str, Any] = {"action": "rate", "item_id": 42, "stars": 4, "channel": "chn1chn1chn1chn1chn1chn1ab"}


def test_round_trip_returns_the_payload() -> None:
    assert verify(sign(PAYLOAD, KEY), KEY) == PAYLOAD


def test_signed_payload_keeps_its_fields_and_adds_a_signature() -> None:
    signed = sign(PAYLOAD, KEY)
    assert {k: v for k, v in signed.items() if k != SIGNATURE_FIELD} == PAYLOAD
    assert isinstance(signed[SIGNATURE_FIELD], str) and signed[SIGNATURE_FIELD]


def test_sign_does_not_modify_its_input() -> None:
    payload = dict(PAYLOAD)
    sign(payload, KEY)
    assert payload == PAYLOAD


def test_signature_is_url_safe_without_padding() -> None:
    signature = sign(PAYLOAD, KEY)[SIGNATURE_FIELD]
    assert "=" not in signature and "+" not in signature and "/" not in signature


def test_signing_is_deterministic() -> None:
    assert sign(PAYLOAD, KEY) == sign(dict(PAYLOAD), KEY)


def test_empty_payload_round_trips() -> None:
    assert verify(sign({}, KEY), KEY) == {}


def test_existing_signature_field_is_replaced_when_signing() -> None:
    signed = sign({**PAYLOAD, SIGNATURE_FIELD: "forged"}, KEY)
    assert signed[SIGNATURE_FIELD] != "forged"
    assert verify(signed, KEY) == PAYLOAD


def test_key_order_does_not_matter() -> None:
    signed = sign(PAYLOAD, KEY)
    reordered = dict(reversed(list(signed.items())))
    assert list(reordered) != list(signed)
    assert verify(reordered, KEY) == PAYLOAD


def test_nested_key_order_does_not_matter() -> None:
    signed = sign({"state": {"a": 1, "b": 2}}, KEY)
    signed["state"] = {"b": 2, "a": 1}
    assert verify(signed, KEY) == {"state": {"a": 1, "b": 2}}


def test_unicode_values_round_trip() -> None:
    payload = {"title": "Einführung – Über uns", "comment": "很有帮助 👍", "emoji": "⭐️"}
    assert verify(sign(payload, KEY), KEY) == payload


def test_changed_unicode_value_is_rejected() -> None:
    signed = sign({"title": "Über uns"}, KEY)
    signed["title"] = "Uber uns"
    with pytest.raises(BadSignature, match="does not match"):
        verify(signed, KEY)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stars", 5),
        ("stars", "4"),  # same value, different type
        ("stars", 4.5),
        ("item_id", 43),
        ("action", "Rate"),
        ("channel", None),
    ],
)
def test_any_changed_value_is_rejected(field: str, value: object) -> None:
    signed = sign(PAYLOAD, KEY)
    signed[field] = value
    with pytest.raises(BadSignature, match="does not match"):
        verify(signed, KEY)


def test_added_key_is_rejected() -> None:
    signed = sign(PAYLOAD, KEY)
    signed["admin"] = True
    with pytest.raises(BadSignature, match="does not match"):
        verify(signed, KEY)


@pytest.mark.parametrize("field", list(PAYLOAD))
def test_removed_key_is_rejected(field: str) -> None:
    signed = sign(PAYLOAD, KEY)
    del signed[field]
    with pytest.raises(BadSignature, match="does not match"):
        verify(signed, KEY)


def test_wrong_key_is_rejected() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        verify(sign(PAYLOAD, KEY), OTHER_KEY)


def test_tampered_signature_is_rejected() -> None:
    signed = sign(PAYLOAD, KEY)
    signature = signed[SIGNATURE_FIELD]
    signed[SIGNATURE_FIELD] = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(BadSignature, match="does not match"):
        verify(signed, KEY)


def test_missing_signature_is_rejected() -> None:
    with pytest.raises(BadSignature, match="not signed"):
        verify(dict(PAYLOAD), KEY)


@pytest.mark.parametrize("signature", [None, 123, b"bytes", ["list"]])
def test_signature_that_is_not_a_string_is_rejected(signature: object) -> None:
    with pytest.raises(BadSignature, match="not signed"):
        verify({**PAYLOAD, SIGNATURE_FIELD: signature}, KEY)


def test_empty_signature_is_rejected() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        verify({**PAYLOAD, SIGNATURE_FIELD: ""}, KEY)


@pytest.mark.parametrize("signed", [None, "", "sig=abc", ["action", "rate"], 42, (("sig", "x"),)])
def test_non_dict_is_rejected(signed: object) -> None:
    with pytest.raises(BadSignature, match="missing or not an object"):
        verify(signed, KEY)


def test_bad_signature_is_a_value_error() -> None:
    assert issubclass(BadSignature, ValueError)
