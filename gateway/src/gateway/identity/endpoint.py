"""``POST /oauth/token`` (the IDE's login and refresh) and ``GET /.well-known/jwks.json``.

The request is ``application/x-www-form-urlencoded`` (RFC 6749 §4.3.2, §6), read with a small limit and parsed
here (no multipart parser needed). Answers are JSON with ``Cache-Control: no-store`` (§5.1); errors are
``{"error", "error_description"}`` (§5.2).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.context import GatewayContext
from gateway.identity.issuer import Grant, OAuthError, TokenIssuer
from gateway.identity.store import TokenStoreUnavailable
from service_kit.asgi import BodyTooLarge, read_body

MAX_FORM_BYTES = 16_384
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_TYPE = "application/x-www-form-urlencoded"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, {**_NO_STORE, **(headers or {})}, media_type="application/json")


async def token(request: Request) -> Response:
    """OAuth 2.0 token endpoint: ``grant_type=password`` (``username``, ``password``) or ``grant_type=refresh_token``
    (``refresh_token``), each with ``client_id`` and an optional ``scope``. Answers ``access_token``,
    ``refresh_token``, ``token_type``, ``expires_in`` and ``issued_at``; errors as RFC 6749 §5.2 (400
    ``invalid_request``/``invalid_grant``/``unsupported_grant_type``, 429 ``slow_down`` with ``Retry-After``)."""
    context: GatewayContext = request.app.state.gateway
    assert context.issuer is not None  # the route exists only in the modes that issue tokens
    try:
        form = await _form(request)
        grant = await _grant(context.issuer, form, request.client.host if request.client else "")
    except OAuthError as exc:
        return _json(exc.status, exc.body(), exc.headers())
    except TokenStoreUnavailable:
        return _json(503, {"error": "temporarily_unavailable", "error_description": "try again shortly"})
    return _json(200, grant.body())


async def jwks(request: Request) -> Response:
    """The public keys the gateway's access tokens are signed with (RFC 7517), for services that verify them."""
    context: GatewayContext = request.app.state.gateway
    assert context.keys is not None  # the route exists only in the modes that issue tokens
    body = orjson.dumps(context.keys.jwks())
    return Response(body, media_type="application/json", headers={"Cache-Control": "public, max-age=300"})


async def _form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise OAuthError(400, "invalid_request", f"the request must be {FORM_TYPE}")
    try:
        raw = await read_body(request.scope, request.receive, MAX_FORM_BYTES)
    except BodyTooLarge:
        raise OAuthError(413, "invalid_request", f"the request is larger than {MAX_FORM_BYTES} bytes") from None
    try:
        pairs = parse_qsl((raw or b"").decode(), keep_blank_values=True, strict_parsing=False, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "the request is not valid form data") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 §3.2: parameters must not be included more than once
            raise OAuthError(400, "invalid_request", f"'{name}' is given more than once")
        form[name] = value
    return form


async def _grant(issuer: TokenIssuer, form: dict[str, str], address: str) -> Grant:
    grant_type = form.get("grant_type")
    client_id, scope = form.get("client_id", ""), form.get("scope") or None
    if grant_type == "password":
        username, password = _required(form, "username"), _required(form, "password")
        return await issuer.password(username, password, client_id, scope, address)
    if grant_type == "refresh_token":
        return await issuer.refresh(_required(form, "refresh_token"), client_id, scope)
    if grant_type is None:
        raise OAuthError(400, "invalid_request", "'grant_type' is missing")
    raise OAuthError(400, "unsupported_grant_type", "grant_type must be 'password' or 'refresh_token'")


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthError(400, "invalid_request", f"'{name}' is missing")
    return value


def identity_router() -> APIRouter:
    router = APIRouter(tags=["identity"])
    router.add_api_route("/oauth/token", token, methods=["POST"], name="oauth_token")
    router.add_api_route("/.well-known/jwks.json", jwks, methods=["GET"], name="jwks")
    return router
