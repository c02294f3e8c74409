"""Signalling messages are validated before anything acts on them."""

from __future__ import annotations

import json

import pytest

from conferencing.exceptions import SignallingError
from conferencing.protocol import Join, Mute, OnBehalf, Spotlight, Subscribe, message_id, parse_message

LIMIT = 65536


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ('{"type": "join", "token": "abc"}', Join),
        ('{"type": "join", "token": "abc", "room": "m-1", "id": "1"}', Join),
        ('{"type": "spotlight", "participant": null}', Spotlight),
        ('{"type": "mute", "participant": "u-1"}', Mute),
        ('{"type": "subscribe", "slots": ["spotlight", "chair", "auto:3", "participant:u-9"]}', Subscribe),
        ('{"type": "on_behalf", "participant": "u-1", "message": {"type": "raise_hand"}}', OnBehalf),
    ],
)
def test_valid_messages(raw: str, kind: type) -> None:
    assert isinstance(parse_message(raw, max_bytes=LIMIT), kind)


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (b'{"type": "ping"}', "bad_message", "binary"),
        ("x" * (LIMIT + 1), "too_large", "exceeds"),
        ("{", "bad_message", "not JSON"),
        ("[1, 2]", "bad_message", "JSON object"),
        ('{"kind": "join"}', "bad_message", "'type'"),
        ('{"type": "teleport"}', "bad_message", "teleport"),
        ('{"type": "mute"}', "bad_message", "participant"),
        ('{"type": "mute", "participant": "u-1", "force": true}', "bad_message", "force"),
        ('{"type": "subscribe", "slots": ["../etc"]}', "bad_message", "slots"),
        ('{"type": "spotlight", "participant": "a b"}', "bad_message", "participant"),
        ('{"type": "on_behalf", "participant": "u", "message": {"type": "roster", "participants": []}}',
         "bad_message", "message"),
        ("[" * 5000 + "]" * 5000, "bad_message", "not JSON"),
    ],
)
def test_invalid_messages_have_clear_errors(raw: str | bytes, code: str, fragment: str) -> None:
    with pytest.raises(SignallingError) as info:
        parse_message(raw, max_bytes=LIMIT)
    assert info.value.code == code
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('{"type": "x", "id": "42"}', "42"), ('{"id": 5}', None), ("garbage", None), ('{"id": "' + "x" * 65 + '"}', None)],
)
def test_message_id_for_error_replies(raw: str, expected: str | None) -> None:
    assert message_id(raw) == expected


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    raw = json.dumps({"type": "ping"})[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(SignallingError):
        parse_message(raw, max_bytes=10**7)
