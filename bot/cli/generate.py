"""`cameo generate` and `cameo check`: drive the image services without Discord."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from pathlib import Path

import httpx
from pydantic import ValidationError

from bot import __version__
from bot.cli.status import EXIT_FAILED, EXIT_OK
from bot.errors import CameoError
from bot.images.processing import MAX_REFERENCE_BYTES, ImageRejected, clean_reference
from bot.providers.base import SubmittedJob
from bot.providers.errors import NoProviderAvailable, ProviderError
from bot.providers.registry import build_router, poll_policy
from bot.providers.request import (
    MAX_SCENE_IMAGES,
    ImageInput,
    MagicPrompt,
    SceneOptions,
    SceneRequest,
    Speed,
    Style,
    refusal_of,
)
from bot.providers.shapes import ASPECT_RATIOS
from bot.settings import KNOWN_PROVIDERS, Settings


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", required=True, type=Path, help="the character's picture")
    parser.add_argument("--prompt", required=True, help="what the scene shows")
    parser.add_argument("--provider", choices=KNOWN_PROVIDERS, help="use only this service")
    parser.add_argument("--speed", choices=[s.value for s in Speed], default="default")
    parser.add_argument("--style", choices=[s.value for s in Style], default="auto")
    parser.add_argument("--aspect-ratio", choices=ASPECT_RATIOS, default=None)
    # Not argparse `choices`: 69 values would bury the help, and the request model refuses an
    # undocumented one in the same sentence /scene gives.
    parser.add_argument(
        "--resolution",
        default=None,
        metavar="WxH",
        help="an exact size from Ideogram's list, like 1024x1024 (it sets the shape)",
    )
    parser.add_argument("--magic-prompt", choices=[m.value for m in MagicPrompt], default="auto")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument("--count", type=int, default=1, choices=range(1, MAX_SCENE_IMAGES + 1))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write the images")


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=5.0), headers={"User-Agent": f"Cameo/{__version__}"}
    )


def read_reference(path: Path) -> bytes:
    """Read the reference file, refusing anything that is not a small regular file."""
    try:
        if not path.is_file():
            raise CameoError(f"can't read {path}: not a regular file")
        size = path.stat().st_size
        if size > MAX_REFERENCE_BYTES:
            raise CameoError(f"{path}: reference pictures can be at most 10 MiB")
        with path.open("rb") as handle:
            return handle.read(MAX_REFERENCE_BYTES + 1)
    except OSError as exc:
        raise CameoError(f"can't read {path}: {exc.strerror or exc}") from None


def prepare_output(directory: Path) -> None:
    """Make sure images can be written before anything is paid for."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".cameo-{secrets.token_hex(4)}"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise CameoError(f"can't write to {directory}: {exc.strerror or exc}") from None


async def generate(settings: Settings, args: argparse.Namespace) -> int:
    """Run one generation and write its images; print what happened on one line each."""
    raw = read_reference(args.reference)
    try:
        clean = await asyncio.to_thread(clean_reference, raw)
    except ImageRejected as exc:
        raise CameoError(f"{args.reference}: {exc.message}") from None
    try:
        # The same options and request models as /scene, so the same checks and sentences.
        options = SceneOptions(
            prompt=args.prompt,
            style=Style(args.style),
            aspect_ratio=args.aspect_ratio,
            resolution=args.resolution,
            speed=Speed(args.speed),
            magic_prompt=MagicPrompt(args.magic_prompt),
            seed=args.seed,
            negative_prompt=args.negative_prompt,
            count=args.count,
        )
        request = SceneRequest.from_options(
            options, reference=ImageInput(clean.data, f"image/{clean.format}")
        )
    except ValidationError as exc:
        raise CameoError(f"invalid request: {refusal_of(exc)}") from None
    if not settings.enabled_providers:
        raise CameoError("no image service is configured: set at least one CAMEO_*_API_KEY")
    prepare_output(args.out)

    async def announce(provider: str, job: SubmittedJob) -> None:
        # If this run is interrupted, the operator can still find the paid job by its id.
        print(f"submitted {provider} job {job.job_id}", file=sys.stderr)

    # Poll only: the command line never opens the bot's webhook listener.
    async with http_client() as client:
        router = build_router(settings, client, poll_policy(settings))
        started = time.monotonic()
        try:
            result = await router.generate(request, preferred=args.provider, on_submitted=announce)
        except NoProviderAvailable as exc:
            raise CameoError(f"{exc.message} ({exc})") from None
        except ProviderError as exc:
            raise CameoError(f"{exc.provider}: {exc.detail}") from None
    elapsed = time.monotonic() - started
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for index, image in enumerate(result.images, start=1):
        name = f"cameo-{stamp}-{result.provider}-{index}-{secrets.token_hex(3)}.{image.extension}"
        path = args.out / name
        try:
            with path.open("xb") as handle:  # never overwrite, never follow a planted link
                handle.write(image.data)
        except OSError as exc:
            raise CameoError(
                f"the images were made by {result.provider} but {path} can't be written: "
                f"{exc.strerror or exc}"
            ) from None
        print(f"wrote {path} ({image.width}x{image.height})")
    cost = str(result.cost) if result.cost is not None else "not reported"
    print(
        f"provider {result.provider}, seed {result.seed}, cost {cost}, "
        f"{len(result.images)} image(s) in {elapsed:.1f} s"
    )
    if result.balance is not None:
        print(f"balance left: {result.balance}")
    if result.shortfall is not None:
        raise CameoError(
            f"only {len(result.images)} of {args.count} images were made: {result.shortfall}"
        )
    return EXIT_OK


async def check(settings: Settings) -> int:
    """Make one cheap authenticated call per configured service and say which work."""
    if not settings.enabled_providers:
        print("settings: OK; no image service is configured (set a CAMEO_*_API_KEY)")
        return EXIT_FAILED
    print(f"settings: OK; services in order: {', '.join(settings.enabled_providers)}")
    failures = 0
    async with http_client() as client:
        router = build_router(settings, client, poll_policy(settings))
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
