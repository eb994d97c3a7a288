"""The command-line reading behind the approval policy: parts, words and hazards."""

import pytest

from agent_runtime.guardrails.command_line import loose_parts, parse_command_line


def words(line: str) -> list[tuple[str, ...]]:
    return [part.words for part in parse_command_line(line).parts]


def test_a_plain_command_is_one_part_without_hazards() -> None:
    parsed = parse_command_line("flutter analyze lib")
    assert [part.words for part in parsed.parts] == [("flutter", "analyze", "lib")]
    assert parsed.hazards == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ls; pwd", [("ls",), ("pwd",)]),
        ("ls && pwd", [("ls",), ("pwd",)]),
        ("ls || pwd", [("ls",), ("pwd",)]),
        ("ls | grep a", [("ls",), ("grep", "a")]),
        ("ls & pwd", [("ls",), ("pwd",)]),
        ("ls\npwd", [("ls",), ("pwd",)]),
        ("ls\r\npwd", [("ls",), ("pwd",)]),
    ],
)
def test_chained_commands_are_split_on_every_separator(line: str, expected: list[tuple[str, ...]]) -> None:
    assert words(line) == expected


def test_separators_inside_quotes_do_not_split() -> None:
    assert words("grep 'a; b && c' x") == [("grep", "a; b && c", "x")]
    assert words('echo "x | y"') == [("echo", "x | y")]


def test_the_separator_before_each_part_is_recorded() -> None:
    assert [part.after for part in parse_command_line("a | b && c").parts] == ["", "|", "&&"]


def test_an_escaped_double_quote_does_not_end_the_quote() -> None:
    assert words('echo "a\\" ; b" ; pwd') == [("echo", 'a" ; b'), ("pwd",)]


def test_single_quotes_keep_dollar_signs_literal() -> None:
    parsed = parse_command_line("grep '$(x)' file")
    assert parsed.hazards == []
    assert parsed.parts[0].words == ("grep", "$(x)", "file")


def test_an_empty_quoted_argument_is_a_word() -> None:
    assert words("grep '' file") == [("grep", "", "file")]


@pytest.mark.parametrize(
    ("line", "hazard"),
    [
        ("ls > out", "a redirect"),
        ("ls >> out", "a redirect"),
        ("cat < in", "a redirect"),
        ("ls 2> err", "a redirect"),
        ("ls &> all", "a redirect"),
        ("cat <<EOF", "a redirect"),
        ("echo $(id)", "command substitution"),
        ('echo "$(id)"', "command substitution"),
        ("echo `id`", "command substitution"),
        ('echo "`id`"', "command substitution"),
        ("diff <(ls a) b", "process substitution"),
        ("tee >(cat)", "process substitution"),
        ("echo $HOME", "expansion"),
        ("echo ${HOME}", "expansion"),
        ('echo "$PATH"', "expansion"),
        ("(cd .. && ls)", "a subshell or command group"),
        ("{ ls; }", "a subshell or command group"),
        ("ls \\; rm x", "a backslash escape"),
        ("echo 'unterminated", "unbalanced quotes"),
        ('echo "unterminated', "unbalanced quotes"),
        ("ls ;; pwd", "an empty command between separators"),
        ("ls &", "an empty command between separators"),
    ],
)
def test_constructs_that_can_hide_commands_or_write_are_hazards(line: str, hazard: str) -> None:
    assert hazard in parse_command_line(line).hazards


def test_loose_parts_see_commands_inside_substitutions() -> None:
    assert ("sudo", "reboot") in loose_parts('echo "$(sudo reboot)"')
    assert ("rm", "-rf", "/") in loose_parts("echo `rm -rf /`")
