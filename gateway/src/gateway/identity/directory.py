"""Who may log in: ``Directory`` checks a username and password and tells whether a user's logins still hold.

A user's *version* changes whenever their password does and disappears with the user; every token carries the
version it was issued under, so a password change or a removal ends every login of that user at once.
"""

from __future__ import annotations

from typing import Protocol

from service_kit.subject import InvalidSubject, check_subject


class Directory(Protocol):
    """The users the gateway issues tokens to."""

    async def verify(self, username: str, password: str) -> str | None:
        """The user's version when the password is right, else None. Takes the same time for an unknown user as
        for a wrong password."""

    def version_of(self, subject: str) -> str | None:
        """The user's current version; None when there is no such user (any more)."""


class OpenDirectory:
    """Auth mode ``none``: every username logs in with any password and becomes the subject (development)."""

    async def verify(self, username: str, password: str) -> str | None:
        try:
            check_subject(username)
        except InvalidSubject:
            return None
        return ""

    def version_of(self, subject: str) -> str | None:
        return ""
