"""What one image costs, in Cameo credits, per service and speed.

One credit is about one US cent of what the service charges the bot's owner. The defaults come
from the services' published prices (see the README's provider table); a server can set its
own price for any service and speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.providers.request import Needs, Speed

SPEEDS: tuple[str, ...] = tuple(speed.value for speed in Speed)
# Pose sheets have no speed option; they are priced at this one.
POSE_SPEED = Speed.DEFAULT.value

DEFAULT_PRICES: Mapping[str, Mapping[str, int]] = {
    # Segmind Ideogram Character: "$0.125 – $0.250 per generation", spread over the speeds.
    "segmind": {"turbo": 13, "default": 19, "quality": 25},
    # Segmind Consistent Character: about $0.085 an image.
    "segmind-poses": {POSE_SPEED: 9},
    # Apiframe: 10, 15 and 20 of its credits, Ideogram's own $0.10, $0.15 and $0.20.
    "apiframe": {"turbo": 10, "default": 15, "quality": 20},
    # PixelDojo runs the same Ideogram Character model; its own credits have no published
    # dollar value, so it is priced like Ideogram's rate sheet.
    "pixeldojo": {"turbo": 10, "default": 15, "quality": 20},
}
# A service missing from the table (a newly added one) is priced like the dearest known one.
FALLBACK_PRICE = 25


def speed_of(needs: Needs) -> str:
    return POSE_SPEED if needs.poses else needs.speed.value


def default_price(provider: str, speed: str) -> int:
    table = DEFAULT_PRICES.get(provider)
    if table is None:
        return FALLBACK_PRICE
    return table.get(speed, max(table.values()))


def price(provider: str, speed: str, overrides: Mapping[tuple[str, str], int]) -> int:
    """One image from `provider` at `speed`, with the server's own prices applied."""
    return overrides.get((provider, speed), default_price(provider, speed))


def hold_for(
    providers: Iterable[str],
    speed: str,
    images: int,
    overrides: Mapping[tuple[str, str], int],
) -> int:
    """What to hold for a job that any of `providers` may end up making: the dearest, so a
    failover never costs more than the member agreed to; the rest comes back on delivery."""
    per_image = max((price(name, speed, overrides) for name in providers), default=0)
    return per_image * images


def speeds_for(provider: str) -> tuple[str, ...]:
    """The speeds a service is priced at (pose sheets have only one)."""
    table = DEFAULT_PRICES.get(provider)
    return tuple(table) if table is not None else SPEEDS
