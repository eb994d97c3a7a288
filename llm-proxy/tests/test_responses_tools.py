"""The Responses door's tools: custom (free-form) tools, the Codex CLI's tool loop, namespace tools."""

from __future__ import annotations

from typing import Any

import orjson

from tests.fakes import Reply, fixture_bytes, split_every
from tests.fakes import typed_sse_events as events
from tests.test_responses import TOOLS, stream

PATCH = '*** Begin Patch\n*** Update File: "é.py"\n@@\n-a = "\\\\"\n+a = 1\n*** End Patch'
CUSTOM = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
}
EXEC = {"type": "function", "name": "exec_command", "strict": False, "parameters": {"type": "object"}}


def codex_turn(history: list[dict[str, Any]]) -> dict[str, Any]:
    """A request shaped as the Codex CLI sends it (doc: shared reference modern-clients.md): no instructions, the
    system prompt as developer messages, client ids on every item, the whole history each turn, store false."""
    developer = [
        {"type": "message", "role": "developer", "id": f"d{i}", "content": [{"type": "input_text", "text": text}]}
        for i, text in enumerate(("You are Codex.", "Sandbox: workspace-write."))
    ]
    return {
        "model": "mock",
        "input": [*developer, *history],
        "tools": [EXEC, CUSTOM],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199a-session",
        "text": {"verbosity": "low"},
    }


async def test_a_codex_cli_shaped_tool_loop(proxy_client):
    prompt = (
        '[[think:I should look]] [[tool:exec_command {"cmd": "ls -la \\"src\\""}]] '
        "[[2:think:Now I know]] [[2:text:Two files.]]"
    )
    user = {"type": "message", "role": "user", "id": "u1", "content": [{"type": "input_text", "text": prompt}]}
    headers = {"originator": "codex_cli_rs", "session-id": "0199a", "x-codex-turn-metadata": "{}"}
    async with proxy_client() as client:
        response = await client.post("/v1/responses", json=codex_turn([user]), headers=headers)
        first = events(response.text)
        output = first[-1]["response"]["output"]
        # Codex keeps the output items (reasoning without its text), runs the call, and resends everything.
        kept = [{k: v for k, v in item.items() if k != "content" or item["type"] != "reasoning"} for item in output]
        call = output[1]
        result = {"type": "function_call_output", "call_id": call["call_id"], "output": "a.py\nb.py"}
        response = await client.post("/v1/responses", json=codex_turn([user, *kept, result]), headers=headers)
        second = events(response.text)
    assert first[-1]["type"] == "response.completed"
    assert [item["type"] for item in output] == ["reasoning", "function_call"]
    assert (call["name"], call["arguments"]) == ("exec_command", '{"cmd": "ls -la \\"src\\""}')
    assert second[-1]["type"] == "response.completed"
    final = second[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    assert final["output"][1]["content"][0]["text"] == "Two files."
    assert final["usage"]["total_tokens"] > 0
    # Codex's own session-id header is the session of the usage ledger.
    async with proxy_client() as client:
        await client.post("/v1/responses", json=codex_turn([user]), headers=headers)
        ledger = (await client.get("/v1/llm/usage/0199a")).json()
    assert ledger["requests"] == 1


async def test_custom_tools_are_offered_as_functions_and_come_back_as_custom_calls(proxy_client, upstream):
    arguments = orjson.dumps({"input": PATCH}).decode()
    async with proxy_client() as client:
        found = await stream(client, input=f"[[tool:apply_patch {arguments}]]", tools=[CUSTOM, *TOOLS])
    kinds = [e["type"] for e in found]
    assert kinds[2:6] == [
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
    ]
    item = found[5]["item"]
    assert (item["type"], item["name"], item["input"]) == ("custom_tool_call", "apply_patch", PATCH)
    assert found[4]["input"] == PATCH

    # The call and its output go back upstream as a tool call with {"input": …} and a tool result.
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"))))
    history = [
        {"role": "user", "content": "patch it"},
        {"type": "custom_tool_call", "call_id": item["call_id"], "name": "apply_patch", "input": PATCH},
        {"type": "custom_tool_call_output", "call_id": item["call_id"], "output": "Done!"},
    ]
    body = {
        "model": "openai/gpt-up",
        "input": history,
        "tools": [CUSTOM],
        "tool_choice": {"type": "custom", "name": "apply_patch"},
    }
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        response = await client.post("/v1/responses", json=body)
    assert response.status_code == 200, response.text
    sent = upstream.requests[0]
    function = sent["tools"][0]["function"]
    assert function["name"] == "apply_patch"
    assert function["parameters"]["required"] == ["input"]
    assert "start: /.+/" in function["parameters"]["properties"]["input"]["description"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    call = sent["messages"][1]["tool_calls"][0]
    assert orjson.loads(call["function"]["arguments"]) == {"input": PATCH}
    assert sent["messages"][2] == {"role": "tool", "content": "Done!", "tool_call_id": item["call_id"]}


NAMESPACE = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for spawning and managing sub-agents.",
    "tools": [
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {}}},
        {"type": "custom", "name": "note", "description": "free-form"},
    ],
}


async def test_the_tools_of_a_namespace_are_offered_and_their_calls_come_back_with_the_namespace(
    proxy_client, upstream
):
    async with proxy_client() as client:
        found = await stream(client, input='[[tool:multi_agent_v1__spawn_agent {"task": "x"}]]', tools=[NAMESPACE])
    done = [e["item"] for e in found if e["type"] == "response.output_item.done"]
    added = [e["item"] for e in found if e["type"] == "response.output_item.added"]
    assert (done[0]["type"], done[0]["namespace"], done[0]["name"]) == (
        "function_call",
        "multi_agent_v1",
        "spawn_agent",
    )
    assert (added[0]["namespace"], added[0]["name"]) == ("multi_agent_v1", "spawn_agent")
    assert orjson.loads(done[0]["arguments"]) == {"task": "x"}

    # The call goes back upstream under the one name its tool has there.
    upstream.play(Reply(chunks=split_every(fixture_bytes("openai_tools.sse"))))
    history = [
        {"role": "user", "content": "spawn one"},
        {**done[0], "id": "fc_1"},
        {"type": "function_call_output", "call_id": done[0]["call_id"], "output": "spawned"},
    ]
    body = {"model": "openai/gpt-up", "input": history, "tools": [NAMESPACE, *TOOLS]}
    async with proxy_client(openai_base_url=upstream.url + "/v1") as client:
        response = await client.post("/v1/responses", json=body)
    assert response.status_code == 200, response.text
    sent = upstream.requests[0]
    names = [t["function"]["name"] for t in sent["tools"]]
    assert names[:2] == ["multi_agent_v1__spawn_agent", "multi_agent_v1__note"]
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"


async def test_a_custom_tool_of_a_namespace_comes_back_as_a_custom_call_with_the_namespace(proxy_client):
    async with proxy_client() as client:
        response = await client.post(
            "/v1/responses",
            json={"model": "mock", "input": '[[tool:multi_agent_v1__note {"input": "hi"}]]', "tools": [NAMESPACE]},
        )
    assert response.status_code == 200, response.text
    item = response.json()["output"][0]
    assert (item["type"], item["namespace"], item["name"], item["input"]) == (
        "custom_tool_call",
        "multi_agent_v1",
        "note",
        "hi",
    )


async def test_an_unsupported_tool_inside_a_namespace_is_named_by_its_place(proxy_client):
    tools = [{**NAMESPACE, "tools": [{"type": "web_search"}]}]
    async with proxy_client() as client:
        response = await client.post("/v1/responses", json={"model": "mock", "input": "x", "tools": tools})
    assert response.status_code == 400, response.text
    assert "tools[0].tools[0] (web_search)" in response.json()["error"]["message"]
