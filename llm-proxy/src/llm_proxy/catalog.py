"""The model table: public model name → provider, upstream model, context window, limits and ordered fallbacks.

Built from the YAML models file when one is configured, else from the built-in tables of the providers that have
what they need (a key, a base URL). ``mock`` is always present. Any configured provider also answers
``<provider>/<upstream model>`` for a model the table does not list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROVIDERS = ("openai", "anthropic", "ollama", "mock")


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One deployment: what a public model name is routed to."""

    name: str
    provider: str
    upstream_model: str
    context_window: int
    max_output_tokens: int | None = None
    fallbacks: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    first_byte_timeout: float | None = None  # seconds; None: the proxy's FIRST_BYTE_TIMEOUT_S
    reasoning: bool = False  # thinks on request: a thinking budget is forwarded in the upstream's own terms
    cache: str | None = None  # "auto": Anthropic cache breakpoints on the stable prefix when the client set none


class _EntrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    upstream_model: str | None = None
    context_window: int = Field(8192, ge=256)
    max_output_tokens: int | None = Field(None, ge=1)
    fallbacks: list[str] = []
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    first_byte_timeout: float | None = Field(None, gt=0)
    reasoning: bool = False
    cache: Literal["auto"] | None = None


class ModelsFileError(ValueError):
    """The models file is unusable; the message names the file, the line and the reason."""


_MOCK = {"mock": 32768, "mock-stable": 32768}
_OPENAI: dict[str, tuple[int, int | None]] = {
    "gpt-4o": (128000, 16384),
    "gpt-4o-mini": (128000, 16384),
    "gpt-4.1": (1047576, 32768),
    "gpt-4.1-mini": (1047576, 32768),
    "o3-mini": (200000, 100000),
    "o4-mini": (200000, 100000),
    "text-embedding-3-small": (8191, None),  # /v1/embeddings only
    "text-embedding-3-large": (8191, None),
}
_REASONING = {"o3-mini", "o4-mini", "claude-sonnet-4-5", "claude-opus-4-1"}
_ANTHROPIC: dict[str, tuple[int, int | None]] = {
    "claude-sonnet-4-5": (200000, 64000),
    "claude-opus-4-1": (200000, 32000),
    "claude-3-5-haiku-latest": (200000, 8192),
}
_OLLAMA: dict[str, tuple[int, int | None]] = {"llama3.1": (8192, 4096), "qwen2.5-coder": (8192, 4096)}


def builtin_entries(configured: set[str]) -> dict[str, ModelEntry]:
    """The usual models of every configured provider, plus the mock models."""
    entries = {name: ModelEntry(name, "mock", name, window) for name, window in _MOCK.items()}
    tables = {"openai": _OPENAI, "anthropic": _ANTHROPIC, "ollama": _OLLAMA}
    for provider, table in tables.items():
        if provider in configured:
            for name, (window, output) in table.items():
                entries[name] = ModelEntry(name, provider, name, window, output, reasoning=name in _REASONING)
    return entries


def load_models_file(path: Path) -> dict[str, ModelEntry]:
    """Parse and check the YAML models file; raise ``ModelsFileError`` naming the line and the reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelsFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ModelsFileError(f"{path}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    models = _models_node(path, root)
    entries: dict[str, ModelEntry] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in models.value:
        name = str(key_node.value)
        line = key_node.start_mark.line + 1
        if name in entries:
            raise ModelsFileError(f"{path}:{line}: model '{name}' is defined twice")
        entries[name] = _entry(path, line, name, yaml.safe_load(yaml.serialize(value_node)))
        lines[name] = line
    _check_references(path, entries, lines)
    return entries


def _models_node(path: Path, root: yaml.Node | None) -> yaml.MappingNode:
    if not isinstance(root, yaml.MappingNode):
        raise ModelsFileError(f"{path}:1: expected a mapping with a 'models' key")
    for key_node, value_node in root.value:
        if key_node.value == "models":
            if not isinstance(value_node, yaml.MappingNode) or not value_node.value:
                line = value_node.start_mark.line + 1
                raise ModelsFileError(f"{path}:{line}: 'models' must map model names to their settings")
            return value_node
    raise ModelsFileError(f"{path}:1: missing the 'models' key")


def _entry(path: Path, line: int, name: str, raw: Any) -> ModelEntry:
    try:
        spec = _EntrySpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ModelsFileError(f"{path}:{line}: {name}.{where}: {first['msg']}") from None
    if spec.provider not in PROVIDERS:
        raise ModelsFileError(f"{path}:{line}: {name}.provider: must be one of {', '.join(PROVIDERS)}")
    return ModelEntry(
        name=name,
        provider=spec.provider,
        upstream_model=spec.upstream_model or name,
        context_window=spec.context_window,
        max_output_tokens=spec.max_output_tokens,
        fallbacks=tuple(spec.fallbacks),
        rpm=spec.rpm,
        tpm=spec.tpm,
        first_byte_timeout=spec.first_byte_timeout,
        reasoning=spec.reasoning,
        cache=spec.cache,
    )


def _check_references(path: Path, entries: dict[str, ModelEntry], lines: dict[str, int]) -> None:
    for name, entry in entries.items():
        for fallback in entry.fallbacks:
            if fallback == name:
                raise ModelsFileError(f"{path}:{lines[name]}: {name}.fallbacks: a model cannot fall back to itself")
            if fallback not in entries:
                raise ModelsFileError(f"{path}:{lines[name]}: {name}.fallbacks: unknown model '{fallback}'")


class Catalog:
    """Looks up deployments by public name and lays out a request's fallback chain."""

    def __init__(self, entries: dict[str, ModelEntry], configured: set[str], default_context_window: int) -> None:
        self.entries = entries
        self._configured = configured
        self._default_window = default_context_window

    def resolve(self, name: str) -> ModelEntry | None:
        entry = self.entries.get(name)
        if entry is not None:
            return entry
        provider, _, upstream = name.partition("/")
        if upstream and provider in self._configured and provider != "mock":
            return ModelEntry(name, provider, upstream, self._default_window)
        return None

    def available(self) -> str:
        """The names a request may use, for an error message."""
        names = ", ".join(sorted(self.entries))
        providers = sorted(self._configured - {"mock"})
        if providers:
            names += f"; or '<provider>/<model>' with provider {' or '.join(providers)}"
        return names

    def chain(self, entry: ModelEntry) -> list[ModelEntry]:
        """The entry, then its fallbacks in order (one level: a fallback's own fallbacks are not followed)."""
        chain = [entry]
        for name in entry.fallbacks:
            fallback = self.entries.get(name)
            if fallback is not None and fallback not in chain:
                chain.append(fallback)
        return chain
