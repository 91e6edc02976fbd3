"""The REST front door: routing, authentication, rate limits, error bodies and the request log.

Unknown routes answer ``404 {"message": "404: Not Found", "code": 0}`` *and* become violations, so
a bot calling something the emulator does not know fails its test instead of passing quietly.
Failures are always 4xx: discord.py retries 5xx with multi-second back-off (discord.md §1).
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

from aiohttp import web

from . import routes_app, routes_channels, routes_interactions, routes_pins
from .errors import ApiError
from .routing import RequestContext, RouteSpec, Services
from .state import InjectedError, RequestLogEntry
from .wire import json_response, no_content

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
INVALID_REQUEST_WINDOW = 600.0  # Cloudflare counts 401/403/429 over 10 minutes


class RestApi:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._state = services.state
        self.routes: list[RouteSpec] = [
            *routes_app.routes.specs,
            *routes_channels.routes.specs,
            *routes_pins.routes.specs,
            *routes_interactions.routes.specs,
        ]
        self._invalid: collections.deque[float] = collections.deque()
        self._banned_reported = False
        self._peers: set[object] = set()  # the client end of every connection REST was used on

    def match(self, method: str, path: str) -> tuple[RouteSpec | None, dict[str, str], bool]:
        """The route for a request, its path parameters, and whether the path exists at all."""
        path_known = False
        for spec in self.routes:
            found = spec.regex.match(path)
            if found is None:
                continue
            path_known = True
            if spec.method == method:
                return spec, found.groupdict(), True
        return None, {}, path_known

    async def handle(self, request: web.Request) -> web.StreamResponse:
        state = self._state
        state.stats["rest_requests"] += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer not in self._peers:
            # A new TCP connection (a client that keeps connections alive reuses its peer).
            self._peers.add(peer)
            state.stats["rest_connections"] += 1
        method = request.method
        full_path = request.path
        path = full_path.removeprefix(API_PREFIX) if full_path.startswith(API_PREFIX + "/") else ""
        spec, params, path_known = self.match(method, path) if path else (None, {}, False)
        if spec is None:
            unknown = self._unknown(method, full_path, path_known)
            self._log(method, path or full_path, unknown.status)
            return unknown

        # Violations name the route without the (very long) interaction token.
        shown = (
            path.replace(params["webhook_token"], "<token>") if "webhook_token" in params else path
        )
        auth = request.headers.get("Authorization")
        expected = f"Bot {state.bot_token}"
        if (spec.auth == "bot" and auth != expected) or (auth is not None and auth != expected):
            state.violation(f"{method} {shown}: 401 Unauthorized (bad or missing bot token)")
            self._count_invalid()
            self._log(method, path, 401)
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)

        decision = self._services.limiter.check(
            spec.key, _major_parameters(params), global_exempt=spec.global_exempt
        )
        if decision.limited:
            state.stats["rate_limited_429s"] += 1
            self._count_invalid()
            self._log(method, path, 429)
            return json_response(decision.body, 429, decision.headers)

        injected = self._take_injected_error(spec.key)
        if injected is not None:
            self._log(method, path, injected.status)
            return json_response(
                {"message": injected.message, "code": injected.code}, injected.status
            )

        context = RequestContext(request, spec, params, self._services)
        response: web.StreamResponse
        try:
            result = await spec.handler(context)
            response = _to_response(result)
        except ApiError as error:
            response = json_response(error.body(), error.status)
            if error.status in (401, 403):
                self._count_invalid()
            if error.violation:
                state.violation(f"{method} {shown} → {error.describe()}")
        except Exception as error:
            log.exception("emulator error handling %s %s", method, path)
            state.violation(f"{method} {shown}: emulator internal error {error!r}")
            response = json_response({"message": f"emulator error: {error!r}", "code": 0}, 400)
        for name, value in decision.headers.items():
            response.headers[name] = value
        self._log(method, path, response.status)
        return response

    def _take_injected_error(self, route_key: str) -> InjectedError | None:
        for injected in self._state.injected_errors:
            if injected.route_key == route_key:
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._state.injected_errors.remove(injected)
                return injected
        return None

    def _unknown(self, method: str, path: str, path_known: bool) -> web.Response:
        state = self._state
        state.stats["unknown_routes"] += 1
        if path_known:
            state.violation(f"{method} {path}: 405 method not allowed on a known route")
            return json_response({"message": "405: Method Not Allowed", "code": 0}, 405)
        state.violation(
            f"{method} {path}: 404 unknown route (not emulated, or not a Discord route)"
        )
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    def _log(self, method: str, path: str, status: int) -> None:
        self._state.request_log.append(RequestLogEntry(method, path, status, time.monotonic()))

    def _count_invalid(self) -> None:
        now = time.monotonic()
        self._invalid.append(now)
        while self._invalid and now - self._invalid[0] > INVALID_REQUEST_WINDOW:
            self._invalid.popleft()
        limit = self._state.options.invalid_request_limit
        if len(self._invalid) > limit and not self._banned_reported:
            self._banned_reported = True
            self._state.violation(
                f"more than {limit} invalid (401/403/429) requests in 10 minutes: Cloudflare "
                "would ban this bot's IP for an hour"
            )


def _major_parameters(params: dict[str, str]) -> str:
    """Mirror discord.py's ``Route.major_parameters`` so buckets split the same way."""
    keys = ("channel_id", "guild_id", "webhook_id", "webhook_token")
    return "+".join(params[k] for k in keys if k in params)


def _to_response(result: Any) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if result is None:
        return no_content()
    return json_response(result)
