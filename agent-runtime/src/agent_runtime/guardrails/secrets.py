"""Files that typically hold credentials (``service_kit.secret_files``), and whether a name or a glob pattern can
point at one.

What a tool reads goes to the model provider, so every path-like and pattern-like argument of every tool is checked
here: a secret name asks first; so does a pattern that *could* match one (``.e*``, ``*``, ``.env*``, ``id_rs?``).
A pattern is compared with the secret families as two globs: they can match a common name exactly when
:func:`globs_intersect` says so (no sampling, no guessing), except that a name ending in a literal public suffix
(``.example``, ``.pub``, a source-code extension) is never secret.
"""

from __future__ import annotations

import functools

from service_kit.secret_files import PUBLIC_SUFFIXES, SECRET_GLOBS
from service_kit.secret_files import secret_file as secret_file  # the one definition, shared with the gateway

_WILD = frozenset("*?[")


def secret_path(path: str) -> bool:
    """A secret file (:func:`secret_file`), or anything inside ``.git`` (its ``config`` can hold credentials in
    remote URLs, ``.git-credentials`` and hooks live there)."""
    return secret_file(path) or ".git" in path.replace("\\", "/").split("/")


def pattern_may_match_secret(pattern: str) -> bool:
    """Whether a glob (its last path segment; ``**`` counts as ``*``) can match a secret file's name."""
    name = pattern.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower().replace("**", "*")
    if not name:
        return True
    if name.endswith(PUBLIC_SUFFIXES) and not _WILD.intersection(name[name.rfind(".") :]):
        return False
    return any(globs_intersect(name, family) for family in SECRET_GLOBS)


def is_glob(text: str) -> bool:
    return bool(_WILD.intersection(text))


# A glob as tokens: None is '*', otherwise (characters, negated) matches one character.
_Token = tuple[frozenset[str], bool] | None
_ANY: _Token = (frozenset(), True)


def _tokens(glob: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    index = 0
    while index < len(glob):
        char = glob[index]
        if char == "*":
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
        elif char == "?":
            tokens.append(_ANY)
        elif char == "[" and "]" in glob[index + 2 :]:
            index, token = _bracket(glob, index)
            tokens.append(token)
            continue
        else:
            tokens.append((frozenset(char), False))
        index += 1
    return tuple(tokens)


def _bracket(glob: str, index: int) -> tuple[int, _Token]:
    """``[abc]``, ``[!a-z]``/``[^a-z]``: the characters and whether the set is negated; returns the next index."""
    index += 1
    negated = glob[index : index + 1] in ("!", "^")
    index += negated
    chars: set[str] = set()
    first = True
    while index < len(glob) and (glob[index] != "]" or first):
        if glob[index + 1 : index + 2] == "-" and index + 2 < len(glob) and glob[index + 2] != "]":
            chars.update(chr(code) for code in range(ord(glob[index]), ord(glob[index + 2]) + 1))
            index += 3
        else:
            chars.add(glob[index])
            index += 1
        first = False
    return index + 1, (frozenset(chars) | frozenset(c.upper() for c in chars), negated)


def _overlap(a: tuple[frozenset[str], bool], b: tuple[frozenset[str], bool]) -> bool:
    (chars_a, neg_a), (chars_b, neg_b) = a, b
    if neg_a and neg_b:
        return True
    if neg_a:
        return bool(chars_b - chars_a)
    if neg_b:
        return bool(chars_a - chars_b)
    return bool(chars_a & chars_b)


def globs_intersect(left: str, right: str) -> bool:
    """Whether some file name matches both globs (``*``, ``?``, ``[…]``; ``*`` matches any characters)."""
    return _intersect(_tokens(left), _tokens(right))


@functools.lru_cache(maxsize=4096)
def _intersect(a: tuple[_Token, ...], b: tuple[_Token, ...]) -> bool:
    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] is None:
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] is None:
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        token_a, token_b = a[i], b[j]
        if token_a is None or token_b is None:  # both stars were handled above
            return False
        return _overlap(token_a, token_b) and meet(i + 1, j + 1)

    return meet(0, 0)
