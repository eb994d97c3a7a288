from datetime import UTC, datetime, timedelta

import pytest

from agent_runtime.domain.errors import NotFound, RuleViolation
from agent_runtime.domain.events import MessageAppended, SessionCreated, SessionDeleted, SessionRenamed
from agent_runtime.domain.session import Session

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def new_session(owner: str | None = None) -> Session:
    return Session.create("s1", owner=owner, now=NOW, agent="coder")


def test_creating_a_session_raises_session_created() -> None:
    session = new_session("alice")
    assert [type(e) for e in session.pull_events()] == [SessionCreated]
    assert session.pull_events() == []


def test_the_first_user_message_names_the_session() -> None:
    session = new_session()
    session.note_message("assistant", "ignored", NOW)
    session.note_message("user", "  Fix the   login bug\nplease ", NOW)
    session.note_message("user", "second message", NOW)
    assert session.title == "Fix the login bug please"
    assert session.message_count == 3


def test_a_long_first_message_is_cut_to_a_title() -> None:
    session = new_session()
    session.note_message("user", "word " * 100, NOW)
    assert session.title is not None
    assert len(session.title) <= 80
    assert session.title.endswith("…")


def test_each_message_raises_message_appended_with_its_position() -> None:
    session = new_session()
    session.pull_events()
    session.note_message("user", "a", NOW)
    session.note_message("assistant", "b", NOW)
    events = session.pull_events()
    assert [(type(e), e.position) for e in events if isinstance(e, MessageAppended)] == [
        (MessageAppended, 1),
        (MessageAppended, 2),
    ]


def test_rename_rejects_an_empty_title() -> None:
    session = new_session()
    with pytest.raises(RuleViolation):
        session.rename("   ", NOW)


def test_rename_records_the_new_title() -> None:
    session = new_session()
    session.rename("New name", NOW)
    assert session.title == "New name"
    assert isinstance(session.pull_events()[-1], SessionRenamed)


def test_delete_is_soft_and_happens_once() -> None:
    session = new_session()
    session.pull_events()
    session.delete(NOW)
    session.delete(NOW)
    assert session.deleted_at == NOW
    assert not session.is_active
    assert [type(e) for e in session.pull_events()] == [SessionDeleted]


def test_another_subjects_session_is_not_found_like_a_missing_one() -> None:
    session = new_session("alice")
    session.check_access("alice")
    session.check_access(None)
    with pytest.raises(NotFound, match=f"^session {session.id} not found$"):
        session.check_access("bob")


def test_an_unowned_session_is_open_to_every_subject() -> None:
    new_session(None).check_access("bob")


def test_idleness_is_measured_from_the_last_activity() -> None:
    session = new_session()
    assert not session.is_idle(NOW + timedelta(hours=1), timedelta(hours=2))
    assert session.is_idle(NOW + timedelta(hours=3), timedelta(hours=2))
