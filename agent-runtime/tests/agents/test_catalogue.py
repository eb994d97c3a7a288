"""The agent catalogue: the shipped agents, single-agent mode and YAML overrides."""

from pathlib import Path

import pytest

from agent_runtime.agents.catalogue import CatalogueError, Restrictions, build_catalogue
from agent_runtime.agents.routing import classify_by_keywords
from agent_runtime.agents.tools import ALL_SPECS


def test_multi_agent_mode_offers_the_orchestrator_and_four_specialists() -> None:
    catalogue = build_catalogue(True)
    assert [agent.id for agent in catalogue] == ["orchestrator", "coder", "architect", "debug", "ask"]
    assert catalogue.entry == "orchestrator"
    assert catalogue.multi_agent
    assert catalogue.workers == ("coder", "architect", "debug", "ask")


def test_single_agent_mode_offers_only_universal() -> None:
    catalogue = build_catalogue(False)
    assert [agent.id for agent in catalogue] == ["universal"]
    assert catalogue.entry == "universal"
    assert not catalogue.multi_agent
    universal = catalogue.agents["universal"]
    assert universal.allows("write_file")
    assert universal.allows("execute_command")
    assert not universal.allows("switch_mode")


@pytest.mark.parametrize("multi", [True, False])
def test_every_agent_can_finish_and_ask_and_names_only_known_tools(multi: bool) -> None:
    for agent in build_catalogue(multi):
        assert agent.allows("attempt_completion")
        assert agent.allows("ask_followup_question")
        assert set(agent.tools) <= set(ALL_SPECS)


@pytest.mark.parametrize("multi", [True, False])
def test_every_prompt_tells_the_model_about_its_tools(multi: bool) -> None:
    for agent in build_catalogue(multi):
        assert "attempt_completion" in agent.system_prompt
        for tool in agent.tools:
            assert tool in agent.system_prompt, (agent.id, tool)


def test_the_specialists_have_their_own_tool_sets() -> None:
    agents = build_catalogue(True).agents
    assert not agents["orchestrator"].allows("write_file")
    assert agents["orchestrator"].allows("create_plan")
    assert agents["coder"].allows("run_command")
    assert agents["architect"].restrictions == Restrictions(write_extensions=(".md",))
    assert not agents["debug"].allows("write_file")
    assert not any(agents["ask"].allows(tool) for tool in ("write_file", "create_directory", "execute_command"))


def test_a_yaml_file_overrides_fields_and_adds_agents(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "agents:\n"
        "  coder:\n"
        "    model: gpt-4o\n"
        "    tools: [read_file, run_command, attempt_completion]\n"
        "  architect:\n"
        "    write_extensions: ['.MD', '.markdown']\n"
        "  reviewer:\n"
        "    system_prompt: You review code.\n"
        "    tools: [read_file, attempt_completion]\n",
        encoding="utf-8",
    )
    catalogue = build_catalogue(True, path)
    coder = catalogue.agents["coder"]
    assert coder.model == "gpt-4o"
    assert coder.tools == ("read_file", "execute_command", "attempt_completion")
    assert coder.system_prompt == build_catalogue(True).agents["coder"].system_prompt
    assert catalogue.agents["architect"].restrictions.write_extensions == (".md", ".markdown")
    assert "reviewer" in catalogue.workers
    assert catalogue.agents["reviewer"].name == "Reviewer"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agents: [1]\n", "mapping"),
        ("agents:\n  coder: 3\n", "fields must be a mapping"),
        ("agents:\n  coder:\n    colour: red\n", "unknown fields"),
        ("agents:\n  coder:\n    tools: [fly]\n", "unknown tools"),
        ("agents:\n  coder:\n    tools: read_file\n", "list of tool names"),
        ("agents:\n  coder:\n    system_prompt: ''\n", "non-empty string"),
        ("agents:\n  new:\n    tools: [read_file]\n", "needs system_prompt and tools"),
        ("agents:\n  architect:\n    write_extensions: [md]\n", "write_extensions"),
        ("- a\n", "top level must be a mapping"),
        ("agents: [\n", "cannot read"),
    ],
)
def test_an_invalid_agent_file_is_reported(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        build_catalogue(True, path)


def test_a_missing_agent_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        build_catalogue(True, tmp_path / "absent.yaml")


def test_an_added_agent_is_listed_to_the_orchestrator_and_routed_by_its_keywords(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "agents:\n  tester:\n    description: Writes and runs the tests.\n    system_prompt: You test.\n"
        "    tools: [read_file, execute_command]\n    keywords: ['pytest', 'coverage']\n",
        encoding="utf-8",
    )
    catalogue = build_catalogue(True, path)
    assert "- tester: Writes and runs the tests." in catalogue.agents["orchestrator"].system_prompt
    assert "{specialists}" not in catalogue.agents["orchestrator"].system_prompt
    assert classify_by_keywords("raise the pytest coverage", catalogue).agent == "tester"


def test_a_keyword_that_is_no_regular_expression_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text("agents:\n  coder:\n    keywords: ['(unclosed']\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="coder"):
        build_catalogue(True, path)
