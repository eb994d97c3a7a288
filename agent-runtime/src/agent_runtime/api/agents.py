"""``/agents``: the agents and each session's current agent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agent_runtime.api.dependencies import AgentCatalogue, Commands, RequestId, Subject, Uows
from agent_runtime.application import queries
from agent_runtime.application.commands import SwitchAgent

router = APIRouter(prefix="/agents", tags=["agents"])


class SwitchRequest(BaseModel):
    agent_type: str = Field(min_length=1, max_length=64, description="The agent to switch to.")
    reason: str = Field("requested by the user", max_length=1000)
    confidence: float | None = Field(None, ge=0, le=1)


@router.get("")
async def list_agents(catalogue: AgentCatalogue) -> dict[str, Any]:
    """The agents a session can talk to in this runtime's mode (the catalogue; ``entry`` answers a new session)."""
    agents = [{"id": a.id, "name": a.name, "description": a.description} for a in catalogue]
    return {"agents": agents, "count": len(agents), "entry": catalogue.entry}


@router.get("/{session_id}/current")
async def current_agent(session_id: str, uows: Uows, subject: Subject) -> dict[str, Any]:
    """The session's current agent and its switch history."""
    return await queries.current_agent(uows, session_id, subject=subject)


@router.post("/{session_id}/switch")
async def switch_agent(
    session_id: str, body: SwitchRequest, commands: Commands, uows: Uows, subject: Subject, request_id: RequestId
) -> dict[str, Any]:
    """Switch the session's agent (409 if it is already current; 422 past 50 switches or for an unknown agent)."""
    command = SwitchAgent(
        session_id=session_id, to_agent=body.agent_type, reason=body.reason, confidence=body.confidence, subject=subject
    )
    await commands.execute(command, correlation_id=request_id)
    return await queries.current_agent(uows, session_id, subject=subject)
