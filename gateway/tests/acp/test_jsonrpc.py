"""JSON-RPC framing: each malformed message gets its error code and the id it can be answered with."""

from __future__ import annotations

import pytest

from gateway.acp import jsonrpc


@pytest.mark.parametrize(
    ("text", "code", "answer_id"),
    [
        ("{not json", jsonrpc.PARSE_ERROR, None),
        ('[{"jsonrpc":"2.0","id":1,"method":"initialize"}]', jsonrpc.INVALID_REQUEST, None),
        ('"a string"', jsonrpc.INVALID_REQUEST, None),
        ('{"jsonrpc":"1.0","id":7,"method":"initialize"}', jsonrpc.INVALID_REQUEST, 7),
        ('{"jsonrpc":"2.0","id":{"a":1},"method":"initialize"}', jsonrpc.INVALID_REQUEST, None),
        ('{"jsonrpc":"2.0","id":1.5,"method":"initialize"}', jsonrpc.INVALID_REQUEST, None),
        ('{"jsonrpc":"2.0","id":true,"method":"initialize"}', jsonrpc.INVALID_REQUEST, None),
        ('{"jsonrpc":"2.0","id":"x","method":5}', jsonrpc.INVALID_REQUEST, "x"),
        ('{"jsonrpc":"2.0","id":"x","method":"session/new","params":[1]}', jsonrpc.INVALID_PARAMS, "x"),
        ('{"jsonrpc":"2.0"}', jsonrpc.INVALID_REQUEST, None),
        ('{"jsonrpc":"2.0","id":3}', jsonrpc.INVALID_REQUEST, 3),
        ('{"jsonrpc":"2.0","id":3,"result":{},"error":{}}', jsonrpc.INVALID_REQUEST, 3),
    ],
)
def test_a_malformed_message_is_an_error_with_the_id_to_answer(text: str, code: int, answer_id: object) -> None:
    with pytest.raises(jsonrpc.RpcError) as raised:
        jsonrpc.parse(text)
    assert raised.value.code == code
    assert raised.value.id == answer_id
    answer = raised.value.answer()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == answer_id
    assert answer["error"]["code"] == code


def test_requests_notifications_and_responses_are_told_apart_and_ids_keep_their_type() -> None:
    assert jsonrpc.parse('{"jsonrpc":"2.0","id":"7","method":"session/new","params":{"cwd":"/"}}') == (
        jsonrpc.Request("7", "session/new", {"cwd": "/"})
    )
    assert jsonrpc.parse('{"jsonrpc":"2.0","id":7,"method":"initialize"}') == jsonrpc.Request(7, "initialize", {})
    assert jsonrpc.parse('{"jsonrpc":"2.0","method":"session/cancel","params":{"sessionId":"s"}}') == (
        jsonrpc.Notification("session/cancel", {"sessionId": "s"})
    )
    assert jsonrpc.parse('{"jsonrpc":"2.0","id":2,"result":null}') == jsonrpc.Response(2, None, None)
    failed = jsonrpc.parse('{"jsonrpc":"2.0","id":2,"error":{"code":-32002,"message":"no file"}}')
    assert failed == jsonrpc.Response(2, None, {"code": -32002, "message": "no file"})
