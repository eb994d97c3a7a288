"""The in-process event bus: domain events go out after commit to subscribers chosen by type, category or
wildcard, in priority order, through middleware. A failing subscriber is logged and counted; it never breaks the
command that raised the event, nor the other subscribers.

No per-request state lives on the bus: each ``publish`` carries its own envelope.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from agent_runtime.domain.events import DomainEvent

_log = logging.getLogger("agent_runtime.event_bus")


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event in transit: its own id, the id of the request/command chain, and what caused it."""

    event: DomainEvent
    event_id: str
    correlation_id: str
    causation_id: str | None


Subscriber = Callable[[Envelope], Awaitable[None]]
Next = Callable[[Envelope], Awaitable[None]]
Middleware = Callable[[Envelope, Next], Awaitable[None]]


@dataclass(slots=True)
class _Subscription:
    name: str
    handler: Subscriber
    event_type: str | None
    category: str | None
    priority: int
    call: Next  # the handler wrapped in the middleware, composed once rather than per delivery

    def wants(self, event: DomainEvent) -> bool:
        if self.event_type is not None and self.event_type != event.type:
            return False
        return self.category is None or self.category == event.category


@dataclass
class EventBus:
    _subscriptions: list[_Subscription] = field(default_factory=list)
    _middleware: list[Middleware] = field(default_factory=list)
    delivered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    published: Counter[str] = field(default_factory=Counter)

    def subscribe(
        self,
        handler: Subscriber,
        *,
        event_type: type[DomainEvent] | str | None = None,
        category: str | None = None,
        priority: int = 0,
        name: str | None = None,
    ) -> None:
        """Higher ``priority`` runs first; neither ``event_type`` nor ``category`` means every event."""
        kind = event_type if isinstance(event_type, str) or event_type is None else event_type.__name__
        label = name or str(getattr(handler, "__qualname__", repr(handler)))
        self._subscriptions.append(_Subscription(label, handler, kind, category, priority, self._wrapped(handler)))
        self._subscriptions.sort(key=lambda s: -s.priority)

    def use(self, middleware: Middleware) -> None:
        """Wrap every delivery (outermost first), e.g. for timing or tracing."""
        self._middleware.append(middleware)
        for subscription in self._subscriptions:
            subscription.call = self._wrapped(subscription.handler)

    def _wrapped(self, handler: Subscriber) -> Next:
        call: Next = handler
        for middleware in reversed(self._middleware):
            call = _wrap(middleware, call)
        return call

    async def publish(
        self, events: Sequence[DomainEvent], *, correlation_id: str | None = None, causation_id: str | None = None
    ) -> None:
        correlation = correlation_id or uuid.uuid4().hex
        for event in events:
            envelope = Envelope(event, uuid.uuid4().hex, correlation, causation_id)
            self.published[event.type] += 1
            for subscription in self._subscriptions:
                if subscription.wants(event):
                    await self._deliver(subscription, envelope)

    async def _deliver(self, subscription: _Subscription, envelope: Envelope) -> None:
        try:
            await subscription.call(envelope)
        except Exception:  # noqa: BLE001 - a subscriber must never break the command
            self.failed[subscription.name] += 1
            _log.exception("event subscriber failed", extra={"subscriber": subscription.name})
        else:
            self.delivered[subscription.name] += 1

    def stats(self) -> dict[str, object]:
        return {
            "subscribers": [
                {"name": s.name, "event_type": s.event_type, "category": s.category, "priority": s.priority}
                for s in self._subscriptions
            ],
            "published": dict(self.published),
            "delivered": dict(self.delivered),
            "failed": dict(self.failed),
        }


def _wrap(middleware: Middleware, call: Next) -> Next:
    async def wrapped(envelope: Envelope) -> None:
        await middleware(envelope, call)

    return wrapped
