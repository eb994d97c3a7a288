"""Domain errors; the API maps each kind to one HTTP status in one exception handler."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refused the operation. ``code`` is machine-readable and goes into the error envelope."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """The named session, approval, plan or tool call does not exist (or is deleted)."""

    code = "not_found"


class Conflict(DomainError):
    """The operation contradicts the current state (already exists, already decided, wrong state)."""

    code = "conflict"


class Forbidden(DomainError):
    """The caller may not do this at all (an operator-only route called on behalf of a user)."""

    code = "forbidden"


class RuleViolation(DomainError):
    """Well-formed input that a domain rule refuses (e.g. too many agent switches)."""

    code = "rule_violation"
