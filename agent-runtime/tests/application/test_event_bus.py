from datetime import UTC, datetime

from agent_runtime.application.event_bus import Envelope, EventBus, Next
from agent_runtime.domain.events import AgentSwitched, SessionCreated, SessionRenamed

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def created() -> SessionCreated:
    return SessionCreated(session_id="s", occurred_at=NOW)


def switched() -> AgentSwitched:
    return AgentSwitched(session_id="s", occurred_at=NOW, from_agent="a", to_agent="b", reason="r")


async def test_subscribers_are_chosen_by_type_category_or_wildcard() -> None:
    bus = EventBus()
    got: dict[str, list[str]] = {"type": [], "category": [], "all": []}

    def recorder(key: str):  # type: ignore[no-untyped-def]
        async def record(envelope: Envelope) -> None:
            got[key].append(envelope.event.type)

        return record

    bus.subscribe(recorder("type"), event_type=SessionRenamed)
    bus.subscribe(recorder("category"), category="agent")
    bus.subscribe(recorder("all"))
    await bus.publish([created(), switched(), SessionRenamed(session_id="s", occurred_at=NOW, title="t")])
    assert got == {
        "type": ["SessionRenamed"],
        "category": ["AgentSwitched"],
        "all": ["SessionCreated", "AgentSwitched", "SessionRenamed"],
    }


async def test_higher_priority_subscribers_run_first() -> None:
    bus = EventBus()
    order: list[str] = []

    async def low(_: Envelope) -> None:
        order.append("low")

    async def high(_: Envelope) -> None:
        order.append("high")

    bus.subscribe(low, priority=1)
    bus.subscribe(high, priority=10)
    await bus.publish([created()])
    assert order == ["high", "low"]


async def test_a_failing_subscriber_is_counted_and_the_others_still_run() -> None:
    bus = EventBus()
    delivered: list[str] = []

    async def broken(_: Envelope) -> None:
        raise RuntimeError("boom")

    async def fine(envelope: Envelope) -> None:
        delivered.append(envelope.event.type)

    bus.subscribe(broken, name="broken", priority=5)
    bus.subscribe(fine, name="fine")
    await bus.publish([created()])
    assert delivered == ["SessionCreated"]
    assert bus.failed["broken"] == 1
    assert bus.delivered["fine"] == 1


async def test_middleware_wraps_every_delivery_in_order() -> None:
    bus = EventBus()
    trace: list[str] = []

    async def outer(envelope: Envelope, call_next: Next) -> None:
        trace.append("outer")
        await call_next(envelope)

    async def inner(envelope: Envelope, call_next: Next) -> None:
        trace.append("inner")
        await call_next(envelope)

    async def handler(_: Envelope) -> None:
        trace.append("handler")

    bus.use(outer)
    bus.use(inner)
    bus.subscribe(handler)
    await bus.publish([created()])
    assert trace == ["outer", "inner", "handler"]


async def test_envelopes_carry_correlation_and_causation() -> None:
    bus = EventBus()
    seen: list[Envelope] = []

    async def keep(envelope: Envelope) -> None:
        seen.append(envelope)

    bus.subscribe(keep)
    await bus.publish([created(), switched()], correlation_id="c", causation_id="Cmd")
    assert [(e.correlation_id, e.causation_id) for e in seen] == [("c", "Cmd"), ("c", "Cmd")]
    assert seen[0].event_id != seen[1].event_id
