"""`cameo generate` and `cameo check`: drive the image services without Discord."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx

from bot import __version__
from bot.errors import CameoError
from bot.images import ImageRejected, clean_reference
from bot.providers.errors import NoProviderAvailable, ProviderError
from bot.providers.polling import PollPolicy
from bot.providers.registry import open_router
from bot.providers.request import (
    ASPECT_RATIOS,
    MAX_SCENE_IMAGES,
    ImageInput,
    MagicPrompt,
    SceneRequest,
    Speed,
    Style,
)
from bot.settings import KNOWN_PROVIDERS, Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", required=True, type=Path, help="the character's picture")
    parser.add_argument("--prompt", required=True, help="what the scene shows")
    parser.add_argument("--provider", choices=KNOWN_PROVIDERS, help="use only this service")
    parser.add_argument("--speed", choices=[s.value for s in Speed], default="default")
    parser.add_argument("--style", choices=[s.value for s in Style], default="auto")
    parser.add_argument("--aspect-ratio", choices=ASPECT_RATIOS, default=None)
    parser.add_argument("--magic-prompt", choices=[m.value for m in MagicPrompt], default="auto")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument("--count", type=int, default=1, choices=range(1, MAX_SCENE_IMAGES + 1))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write the images")


def poll_policy(settings: Settings) -> PollPolicy:
    initial = settings.provider_poll_seconds
    return PollPolicy(initial=initial, factor=1.5, cap=max(5.0, initial))


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=5.0), headers={"User-Agent": f"Cameo/{__version__}"}
    )


async def generate(settings: Settings, args: argparse.Namespace) -> int:
    """Run one generation and write its images; print what happened on one line each."""
    try:
        raw = args.reference.read_bytes()
    except OSError as exc:
        raise CameoError(f"can't read {args.reference}: {exc.strerror or exc}") from None
    try:
        clean = await asyncio.to_thread(clean_reference, raw)
    except ImageRejected as exc:
        raise CameoError(f"{args.reference}: {exc.message}") from None
    try:
        request = SceneRequest(
            prompt=args.prompt,
            reference=ImageInput(clean.data, f"image/{clean.format}"),
            style=Style(args.style),
            aspect_ratio=args.aspect_ratio,
            speed=Speed(args.speed),
            magic_prompt=MagicPrompt(args.magic_prompt),
            seed=args.seed,
            negative_prompt=args.negative_prompt,
            count=args.count,
        )
    except ValueError as exc:
        raise CameoError(f"invalid request: {_first_error(exc)}") from None
    if not settings.enabled_providers:
        raise CameoError("no image service is configured: set at least one CAMEO_*_API_KEY")
    args.out.mkdir(parents=True, exist_ok=True)
    async with (
        http_client() as client,
        open_router(settings, client, poll_policy(settings)) as router,
    ):
        started = time.monotonic()
        try:
            result = await router.generate(request, preferred=args.provider)
        except NoProviderAvailable as exc:
            raise CameoError(f"{exc.message} ({exc})") from None
        except ProviderError as exc:
            raise CameoError(f"{exc.provider}: {exc.detail}") from None
    elapsed = time.monotonic() - started
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for index, image in enumerate(result.images, start=1):
        path = args.out / f"cameo-{stamp}-{result.provider}-{index}.{image.extension}"
        path.write_bytes(image.data)
        print(f"wrote {path} ({image.width}x{image.height})")
    cost = str(result.cost) if result.cost is not None else "not reported"
    print(
        f"provider {result.provider}, seed {result.seed}, cost {cost}, "
        f"{len(result.images)} image(s) in {elapsed:.1f} s"
    )
    if result.balance is not None:
        print(f"balance left: {result.balance}")
    return EXIT_OK


async def check(settings: Settings) -> int:
    """Make one cheap authenticated call per configured service and say which work."""
    if not settings.enabled_providers:
        print("settings: OK; no image service is configured (set a CAMEO_*_API_KEY)")
        return EXIT_FAILED
    print(f"settings: OK; services in order: {', '.join(settings.enabled_providers)}")
    failures = 0
    async with (
        http_client() as client,
        open_router(settings, client, poll_policy(settings)) as router,
    ):
        for provider in router.providers:
            try:
                balance = await router.check(provider)
            except ProviderError as exc:
                failures += 1
                print(f"{provider.name}: FAILED: {exc.detail}")
                continue
            shown = f"balance {balance}" if balance is not None else "no balance reported"
            print(f"{provider.name}: OK ({shown})")
    return EXIT_FAILED if failures else EXIT_OK


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)
