"""The Redis response store on the machine's Redis: what a conversation holds survives the trip, and the bounds (per
caller, per entry, in time) hold; replicas and outages are in test_replicas.py."""

from __future__ import annotations

import asyncio

import pytest

from llm_proxy.doors.response_store import ResponseStore
from llm_proxy.errors import ProxyError
from llm_proxy.schemas import ChatMessage
from llm_proxy.shared_capacity import SharedCapacity
from llm_proxy.shared_responses import SharedResponseStore
from tests.conftest import Replica


def store_on(shared: SharedCapacity, per_caller: int = 10, ttl: float = 60, max_entry: int = 10_000):
    local = ResponseStore(per_caller, ttl, max_bytes=10_000_000)
    return SharedResponseStore(shared.link, local, max_entry), local


CONVERSATION = [
    ChatMessage.model_validate(
        {"role": "user", "content": [{"type": "text", "text": "Grüße 🎉", "cache_control": {"type": "ephemeral"}}]}
    ),
    ChatMessage.model_validate(
        {
            "role": "assistant",
            "content": "",
            "thinking_blocks": [{"type": "thinking", "thinking": "hm", "signature": "c2ln"}],
            "tool_calls": [{"id": "call_1", "function": {"name": "read", "arguments": '{"path": "a"}'}}],
        }
    ),
    ChatMessage(role="tool", tool_call_id="call_1", content="file a", is_error=True),
]


async def test_a_conversation_comes_back_whole_on_another_replica(replica: Replica) -> None:
    async with replica() as one, replica() as other:
        writer, _ = store_on(one)
        reader, reader_local = store_on(other)
        await writer.put("alice", "resp_1", CONVERSATION, {"id": "resp_1", "output": []}, size=100)
        stored = await reader.get("alice", "resp_1")
        # The fields a chat request's JSON leaves out (signed reasoning, cache_control, is_error) are kept too.
        assert stored.conversation == tuple(CONVERSATION)
        assert stored.conversation[1].thinking_blocks == CONVERSATION[1].thinking_blocks
        assert stored.response == {"id": "resp_1", "output": []}
        assert await reader_local.find("alice", "resp_1") is None  # in Redis, not in the process
        with pytest.raises(ProxyError, match="not found"):
            await reader.get("bob", "resp_1")
        assert await reader.delete("alice", "resp_1")
        assert not await writer.delete("alice", "resp_1")
        assert await writer.find("alice", "resp_1") is None


async def test_the_redis_store_is_bounded_per_caller_per_entry_and_in_time(replica: Replica) -> None:
    async with replica() as shared:
        store, local = store_on(shared, per_caller=2, ttl=0.5, max_entry=2_000)
        for index in range(3):
            await store.put("alice", f"r{index}", CONVERSATION, {"n": index}, size=10)
        await store.put("bob", "b0", CONVERSATION, {}, size=10)
        assert await store.find("alice", "r0") is None  # the oldest of three was dropped
        assert (await store.get("alice", "r2")).response == {"n": 2}
        assert await shared.link.client.zcard(shared.link.prefix + "responses:alice") == 2
        assert await store.find("bob", "b0") is not None  # bob's one is his own
        await store.put("carol", "huge", [ChatMessage(role="user", content="x" * 3_000)], {}, size=3_000)
        assert await store.find("carol", "huge") is None  # larger than an entry may be: kept nowhere
        assert await local.find("carol", "huge") is None
        await asyncio.sleep(0.7)
        with pytest.raises(ProxyError, match="expired"):
            await store.get("alice", "r2")
        assert await shared.link.client.exists(shared.link.prefix + "responses:alice") == 0


async def test_an_unreadable_entry_is_a_clear_400_not_a_500(replica: Replica) -> None:
    async with replica() as shared:
        store, _ = store_on(shared)
        for damaged in (b"not json", b'{"conversation": [{"role": "nobody"}], "response": {}}', b"[]"):
            await shared.link.client.set(shared.link.prefix + "response:alice:resp_x", damaged)
            with pytest.raises(ProxyError, match="not found") as refused:
                await store.get("alice", "resp_x")
            assert refused.value.status == 400
