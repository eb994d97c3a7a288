"""After the first byte: follow an opened stream to its end, whatever the provider.

This is where a stream without a ``Finish`` becomes a truncation error, where the usage is settled (the upstream's,
else an estimate) and where the per-request metrics and session usage are recorded, once per request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import structlog

from llm_proxy.dispatch import OpenedStream
from llm_proxy.errors import ProxyError
from llm_proxy.metrics import LoopHistogramChild, Metrics
from llm_proxy.providers.base import Batch, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from llm_proxy.tokens import estimate_text_tokens
from llm_proxy.usage import SessionUsage

_log = structlog.get_logger("llm_proxy.completion")


class CompletionRun:
    """The batches of one completion, ending in exactly one ``Usage``; raises ``ProxyError`` if the stream broke."""

    def __init__(
        self,
        opened: OpenedStream,
        *,
        metrics: Metrics,
        sessions: SessionUsage,
        session_id: str | None,
        prompt_estimate: int,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.opened = opened
        self.model = opened.entry.name
        self._metrics = metrics
        self._sessions = sessions
        self._session_id = session_id
        self._prompt_estimate = prompt_estimate
        self._secrets = secrets

    async def batches(self) -> AsyncGenerator[Batch, None]:
        """The provider's batches without ``Usage``, then one batch holding the settled ``Usage``."""
        entry = self.opened.entry
        gap = self._started()
        tally = _Tally()
        error: ProxyError | None = None
        last = 0.0  # no gap before the first batch
        batch = self.opened.first
        rest = self.opened.rest
        try:
            while True:
                batch = tally.count(batch)
                if batch:
                    now = time.perf_counter()
                    if last:
                        gap.observe(now - last)
                    last = now
                    yield batch
                try:
                    batch = await anext(rest)
                except StopAsyncIteration:
                    break
            if not tally.finished:
                raise ProxyError("truncated", f"the stream of {entry.name} ended before it finished")
        except ProxyError as exc:
            self._metrics.errors.labels(self._metrics.label(entry), entry.provider, exc.kind).inc()
            if not tally.finished:
                error = exc.scrub(self._secrets)
                raise
            # The answer was whole (its finish arrived); only the tail (usage, [DONE]) was lost.
        finally:
            await rest.aclose()
            usage = tally.usage or Usage(self._prompt_estimate, estimate_text_tokens(tally.characters))
            self._record(usage, error)
        yield [usage]

    def _started(self) -> LoopHistogramChild:
        """Count the request and its time to first token; the gap histogram of this model."""
        series = self._metrics.series(self.opened.entry.name, self.opened.entry.provider)
        series.requests.inc()
        series.ttft.observe(time.perf_counter() - self.opened.started)
        return series.gap

    def _record(self, usage: Usage, error: ProxyError | None) -> None:
        entry = self.opened.entry
        series = self._metrics.series(entry.name, entry.provider)
        series.prompt_tokens.inc(usage.prompt_tokens)
        series.completion_tokens.inc(usage.completion_tokens)
        series.duration.observe(time.perf_counter() - self.opened.started)
        if self._session_id:
            self._sessions.add(
                self._session_id, entry.name, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
            )
        _log.info(
            "completion",
            model=entry.name,
            provider=entry.provider,
            session_id=self._session_id,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            error=error.kind if error else None,
        )


class _Tally:
    """What a stream has delivered so far: whether it finished, its usage, its size (for an estimate)."""

    __slots__ = ("characters", "finished", "usage")

    def __init__(self) -> None:
        self.characters = 0
        self.finished = False
        self.usage: Usage | None = None

    def count(self, batch: Batch) -> Batch:
        """Account for ``batch``; return it without ``Usage`` (that is settled once, at the end)."""
        for delta in batch:
            if isinstance(delta, TextDelta | ReasoningDelta):
                self.characters += len(delta.text)
            elif type(delta) is ToolCallDelta:
                self.characters += len(delta.arguments)
            elif type(delta) is Finish:
                self.finished = True
            elif type(delta) is Usage:
                self.usage = delta
                batch = [d for d in batch if type(d) is not Usage]
        return batch
