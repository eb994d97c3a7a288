"""The model table: the YAML file (and how a bad one is reported), the built-in tables, provider/model names."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_proxy.catalog import Catalog, ModelsFileError, builtin_entries, load_models_file

GOOD = """\
models:
  fast:
    provider: openai
    upstream_model: gpt-4o-mini
    context_window: 128000
    max_output_tokens: 4096
    fallbacks: [local]
    rpm: 100
    tpm: 50000
    first_byte_timeout: 900
  local:
    provider: ollama
    upstream_model: qwen2.5-coder:7b
    context_window: 16384
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    return path


def test_a_models_file_maps_names_to_deployments(tmp_path):
    entries = load_models_file(write(tmp_path, GOOD))
    fast = entries["fast"]
    assert (fast.provider, fast.upstream_model, fast.context_window, fast.max_output_tokens) == (
        "openai",
        "gpt-4o-mini",
        128000,
        4096,
    )
    assert (fast.fallbacks, fast.rpm, fast.tpm, fast.first_byte_timeout) == (("local",), 100, 50000, 900)
    assert entries["local"].first_byte_timeout is None  # the proxy's FIRST_BYTE_TIMEOUT_S
    catalog = Catalog(entries, {"openai", "ollama"}, 8192)
    assert [e.name for e in catalog.chain(fast)] == ["fast", "local"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models:\n  a:\n\tprovider: openai\n", ":3: invalid YAML"),
        ("models:\n  a:\n    provider: nope\n", ":2: a.provider: must be one of"),
        ("models:\n  a:\n    provider: openai\n    context_window: -5\n", ":2: a.context_window:"),
        ("models:\n  a:\n    provider: openai\n    colour: red\n", ":2: a.colour: Extra inputs"),
        ("models:\n  a:\n    provider: openai\n    first_byte_timeout: 0\n", ":2: a.first_byte_timeout:"),
        ("models:\n  a:\n    provider: openai\n    fallbacks: [zzz]\n", ":2: a.fallbacks: unknown model 'zzz'"),
        ("models:\n  a:\n    provider: openai\n    fallbacks: [a]\n", "cannot fall back to itself"),
        ("other: 1\n", ":1: missing the 'models' key"),
    ],
)
def test_a_bad_models_file_names_the_line_and_the_reason(tmp_path, text, expected):
    with pytest.raises(ModelsFileError) as caught:
        load_models_file(write(tmp_path, text))
    assert expected in str(caught.value)


def test_builtin_tables_follow_the_configured_providers():
    assert set(builtin_entries({"mock"})) == {"mock", "mock-stable"}
    with_openai = builtin_entries({"mock", "openai"})
    assert with_openai["gpt-4o"].provider == "openai"
    assert with_openai["gpt-4o"].context_window == 128000
    assert "claude-sonnet-4-5" not in with_openai


def test_provider_slash_model_routes_only_to_configured_providers():
    catalog = Catalog(builtin_entries({"mock"}), {"mock", "ollama"}, 4096)
    local = catalog.resolve("ollama/llama3.2:1b")
    assert local is not None
    assert (local.provider, local.upstream_model, local.context_window) == ("ollama", "llama3.2:1b", 4096)
    assert catalog.resolve("openai/gpt-4o") is None
    assert catalog.resolve("nothing") is None


def test_the_available_names_list_the_table_and_the_open_providers():
    catalog = Catalog(builtin_entries({"mock"}), {"mock", "ollama"}, 4096)
    assert catalog.available() == "mock, mock-stable; or '<provider>/<model>' with provider ollama"
    assert Catalog(builtin_entries({"mock"}), {"mock"}, 4096).available() == "mock, mock-stable"
