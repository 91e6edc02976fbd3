"""Route table plumbing shared by the REST handler modules.

Templates use discord.py's own ``Route`` paths and parameter names, so a route's key here
(``"POST /channels/{channel_id}/messages"``) is exactly discord.py's ``Route.key``; tests use that
string for ``set_rate_limit`` and ``inject_429``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import rules
from .errors import ApiError
from .wire import RequestBody, read_body

if TYPE_CHECKING:
    from .cdn import Cdn
    from .gateway import Gateway
    from .interactions import InteractionService
    from .messages import MessageService
    from .ratelimit import RateLimiter
    from .state import EmulatorState

Handler = Callable[["RequestContext"], Awaitable[Any]]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Services:
    state: EmulatorState
    cdn: Cdn
    gateway: Gateway
    messages: MessageService
    interactions: InteractionService
    limiter: RateLimiter


@dataclass
class RouteSpec:
    method: str
    template: str
    handler: Handler
    # "bot": needs "Authorization: Bot <token>". "token": authenticated by the token in the path
    # (interaction callbacks and webhooks); an Authorization header is optional there.
    auth: str = "bot"
    # Interaction endpoints are not bound by the global rate limit (rate-limits.mdx).
    global_exempt: bool = False
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        def group(match: re.Match[str]) -> str:
            name = match.group(1)
            body = r"[^/]+" if name in ("webhook_token", "emoji") else r"\d+"
            return f"(?P<{name}>{body})"

        escaped = _PARAM.sub(group, self.template.replace(".", r"\."))
        self.regex = re.compile(f"^{escaped}$")

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


class RouteTable:
    """A module's routes, filled by decorating handlers: ``@routes("GET", "/users/@me")``."""

    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def __call__(
        self, method: str, template: str, *, auth: str = "bot", global_exempt: bool = False
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.specs.append(RouteSpec(method, template, handler, auth, global_exempt))
            return handler

        return decorate


class RequestContext:
    def __init__(
        self, request: web.Request, spec: RouteSpec, params: dict[str, str], services: Services
    ) -> None:
        self.request = request
        self.spec = spec
        self.params = params
        self.services = services
        self.state = services.state
        self._body: RequestBody | None = None
        # The path below the API base, e.g. /channels/1/messages.
        self.path = request.path.removeprefix("/api/v10")

    def id(self, name: str) -> int:
        return int(self.params[name])

    @property
    def query(self) -> Any:
        return self.request.query

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.request.query.get(name)
        if value is None:
            return default
        return value.lower() in ("1", "true", "yes")

    async def body(self) -> RequestBody:
        """The parsed body; uploads are size-checked first (413 like Discord)."""
        if self._body is None:
            self._body = await read_body(self.request)
            rules.check_upload_sizes(self._body.files, self._body.size, self.state.options)
        return self._body

    async def json(self) -> Any:
        return (await self.body()).payload

    async def json_object(self) -> dict[str, Any]:
        payload = await self.json()
        if not isinstance(payload, dict):
            raise ApiError(400, 50109, "The request body contains invalid JSON.")
        return payload
