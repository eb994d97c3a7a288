"""What the routes need, built once in the app's lifespan and put on ``app.state.gateway``."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth import Authenticator
from gateway.identity.issuer import TokenIssuer
from gateway.identity.keys import SigningKeys
from gateway.metrics import GatewayMetrics
from gateway.runtime_client import RuntimeClient
from gateway.settings import Settings
from gateway.ws.live import LiveSockets


@dataclass(frozen=True, slots=True)
class GatewayContext:
    settings: Settings
    runtime: RuntimeClient
    authenticator: Authenticator
    metrics: GatewayMetrics
    live: LiveSockets
    issuer: TokenIssuer | None = None  # modes that issue tokens (none, local)
    keys: SigningKeys | None = None
