"""What the bridge remembers, and how a new connection takes over: pure, no sockets."""

from __future__ import annotations

import pytest

from codelab_acp.cli import acp_url
from codelab_acp.ledger import MESSAGE_META, RESUME_METHOD, SEQ_META, Ledger


def request(request_id: object, method: str, params: dict[str, object]) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def update(session: str, seq: int | None, kind: str, text: str = "") -> dict[str, object]:
    params: dict[str, object] = {
        "sessionId": session,
        "update": {"sessionUpdate": kind, "content": {"type": "text", "text": text}},
    }
    if seq is not None:
        params["_meta"] = {SEQ_META: seq}
    return {"jsonrpc": "2.0", "method": "session/update", "params": params}


def test_initialize_asks_for_seqs_and_keeps_the_clients_own_meta() -> None:
    ledger = Ledger()
    params = {"protocolVersion": 1, "clientCapabilities": {"terminal": True, "_meta": {"zed.dev": {"x": 1}}}}
    sent = ledger.from_editor(request(0, "initialize", params), connection=1)
    assert sent is not None
    capabilities = sent["params"]["clientCapabilities"]  # type: ignore[index]
    assert capabilities["terminal"] is True
    assert capabilities["_meta"] == {"zed.dev": {"x": 1}, "codelab.dev": {"seq": True}}


def test_a_reconnect_reintroduces_the_sessions_and_resumes_the_unanswered_prompt() -> None:
    ledger = Ledger()
    ledger.from_editor(request(0, "initialize", {"protocolVersion": 1}), 1)
    ledger.from_gateway({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": 1}}, 1)
    ledger.from_editor(request(1, "session/new", {"cwd": "/w", "mcpServers": []}), 1)
    ledger.from_gateway({"jsonrpc": "2.0", "id": 1, "result": {"sessionId": "s1"}}, 1)
    prompt = ledger.from_editor(request(2, "session/prompt", {"sessionId": "s1", "prompt": [{"type": "text"}]}), 1)
    assert prompt is not None
    message_id = prompt["params"]["_meta"][MESSAGE_META]  # type: ignore[index]
    ledger.from_gateway(update("s1", 5, "tool_call"), 1)
    ledger.from_gateway(update("s1", 7, "agent_message_chunk", "Hel"), 1)
    ledger.from_gateway(update("s1", 8, "agent_message_chunk", "lo"), 1)
    ledger.from_gateway(update("s1", None, "tool_call_update"), 1)  # the gateway's own: no seq, ends the message
    ledger.from_gateway(update("s1", 9, "agent_message_chunk", "Wor"), 1)

    introduction = ledger.reintroduction(2)
    assert [(m["method"], m["params"]) for m in introduction] == [
        ("initialize", {"protocolVersion": 1, "clientCapabilities": {"_meta": {"codelab.dev": {"seq": True}}}}),
        ("session/resume", {"sessionId": "s1", "cwd": "/w", "mcpServers": []}),
    ]
    assert all(str(m["id"]).startswith("codelab-acp/2/") for m in introduction)
    [resume] = ledger.unanswered()
    assert resume["id"] == 2  # the editor's own id: the answer goes straight to its pending session/prompt
    assert resume["method"] == RESUME_METHOD
    assert resume["params"] == {
        "sessionId": "s1",
        "lastSeq": 9,
        "streamed": "Wor",
        "messageId": message_id,
        "prompt": [{"type": "text"}],
    }
    ledger.from_gateway({"jsonrpc": "2.0", "id": 2, "result": {"stopReason": "end_turn"}}, 2)
    assert ledger.unanswered() == []


def test_an_answer_to_a_request_of_a_connection_that_is_gone_is_dropped() -> None:
    ledger = Ledger()
    asked = ledger.from_gateway(request(1, "fs/read_text_file", {"sessionId": "s", "path": "/w/a"}), 1)
    assert asked is not None
    bridge_id = asked["id"]
    late = {"jsonrpc": "2.0", "id": bridge_id, "result": {"content": "x"}}
    assert ledger.from_editor(late, connection=2) is None  # never sent to the new connection's request 1
    asked = ledger.from_gateway(request(1, "fs/read_text_file", {"sessionId": "s", "path": "/w/a"}), 2)
    assert asked is not None
    assert asked["id"] != bridge_id
    answer = ledger.from_editor({"jsonrpc": "2.0", "id": asked["id"], "result": {"content": "y"}}, connection=2)
    assert answer == {"jsonrpc": "2.0", "id": 1, "result": {"content": "y"}}


def test_an_unanswered_initialize_is_sent_again_instead_of_a_second_one() -> None:
    ledger = Ledger()
    ledger.from_editor(request("init", "initialize", {"protocolVersion": 1}), 1)
    assert ledger.reintroduction(2) == []
    assert [m["id"] for m in ledger.unanswered()] == ["init"]


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("ws://127.0.0.1:8000", "ws://127.0.0.1:8000/acp"),
        ("https://codelab.example.com/", "wss://codelab.example.com/acp"),
        ("wss://codelab.example.com/acp/ws", "wss://codelab.example.com/acp/ws"),
        ("http://h:1/acp?access_token=t", "ws://h:1/acp?access_token=t"),
    ],
)
def test_the_url_becomes_the_acp_websocket(given: str, used: str) -> None:
    assert acp_url(given) == used


@pytest.mark.parametrize("given", ["ftp://h", "h:8000", "ws://"])
def test_a_url_that_is_no_gateway_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="--url"):
        acp_url(given)
