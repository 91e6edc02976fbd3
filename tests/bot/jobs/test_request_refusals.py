"""A request the job service refuses is refused in Cameo's own words, before a job row or a
credit hold exists; text with nothing visible counts as empty, as it does for names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from bot.characters.service import CharacterService
from bot.characters.text import InvalidText, clean_name
from bot.clock import SystemClock
from bot.errors import CameoError
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.jobs.service import JobService
from bot.models import Viewer
from bot.providers.request import (
    EMPTY_NEGATIVE_PROMPT,
    EMPTY_PROMPT,
    ImageInput,
    PoseOptions,
    PoseRequest,
    SceneOptions,
    SceneRequest,
    refusal_of,
)
from storage.database import Database, open_database
from tests.bot.jobs.test_job_runner import generous_quota, make_router, make_runner
from tests.fakes import FakeApiframe, FakeSegmind
from tests.imagefactory import png

ALICE = Viewer(1, 10)
CHANNEL = 20
BLANKS = {
    "spaces": "   \t\n",
    "zero-width": "\u200b\u200c\u200d\u2060\ufeff",
    "other spaces": "\u00a0\u2003\u3000\u2028\u2029",
    "bidi marks": "\u200e\u200f\u202e",
    "hangul filler": "\u3164\u3164",
    "braille blank": "\u2800",
    "lone accent": "\u0301",
}


SCENE_REFUSALS: list[tuple[dict[str, object], str]] = [
    ({"prompt": "x" * 2001}, "Prompts can be at most 2000 characters long."),
    ({"prompt": "x", "count": 0}, "Ask for 1 to 4 pictures."),
    ({"prompt": "x", "count": "many"}, "Ask for 1 to 4 pictures."),
    ({"prompt": "x", "seed": -1}, "A seed is a whole number from 0 to 2147483647."),
    (
        {"prompt": "x", "style": "noir"},
        "The style must be auto, realistic, fiction, general or design.",
    ),
    ({"prompt": "x", "magic_prompt": "yes"}, "Magic prompt must be auto, on or off."),
    (
        {"prompt": "x", "resolution": "big"},
        "Give the resolution as width and height in pixels, like 1024x1024.",
    ),
    (
        {"prompt": "x", "aspect_ratio": "16:9", "resolution": "1024x1024"},
        "1024x1024 makes a 1:1 picture, not 16:9. Pick a resolution the suggestions offer for "
        "16:9, or leave the aspect ratio out.",
    ),
]

POSE_REFUSALS: list[tuple[dict[str, object], str]] = [
    ({"outputs": 21}, "Ask for 1 to 20 poses."),
    ({"images_per_pose": 5}, "Ask for 1 to 4 pictures of each pose."),
    ({"output_format": "gif"}, "The file type must be webp, jpg or png."),
]


@pytest.fixture
async def jobs(
    tmp_path: Path, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> AsyncIterator[tuple[JobService, Database]]:
    async with (
        open_database(tmp_path / "cameo.sqlite3") as db,
        httpx.AsyncClient(trust_env=False, timeout=10) as http,
    ):
        store = ImageStore(tmp_path / "images", db)
        workers = ImageWorkers()
        characters = CharacterService(db, store, workers, SystemClock())
        await characters.create(ALICE, name="Mira", image=png(seed=1))
        router = make_router(http, apiframe_fake, segmind_fake)
        runner, _ = make_runner(db, store, router)
        quota = generous_quota(db, router)
        yield JobService(db, store, characters, workers, router, quota, runner, SystemClock()), db
        await runner.stop()


async def nothing_queued_or_held(db: Database) -> bool:
    async with db.read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM jobs") as cursor:
            jobs = await cursor.fetchone()
        async with conn.execute("SELECT COUNT(*) FROM credit_holds") as cursor:
            holds = await cursor.fetchone()
    assert jobs is not None
    assert holds is not None
    return (jobs[0], holds[0]) == (0, 0)


@pytest.mark.parametrize("blank", BLANKS.values(), ids=BLANKS.keys())
async def test_a_prompt_with_nothing_visible_is_refused_before_anything_is_held(
    jobs: tuple[JobService, Database], blank: str
) -> None:
    service, db = jobs
    with pytest.raises(CameoError) as scene:
        await service.queue_scene(ALICE, CHANNEL, "Mira", {"prompt": blank})
    assert scene.value.message == EMPTY_PROMPT
    with pytest.raises(CameoError) as negative:
        await service.queue_scene(
            ALICE, CHANNEL, "Mira", {"prompt": "rain", "negative_prompt": blank}
        )
    assert negative.value.message == EMPTY_NEGATIVE_PROMPT
    with pytest.raises(CameoError) as poses:
        await service.queue_poses(ALICE, CHANNEL, "Mira", {"prompt": blank})
    assert poses.value.message == EMPTY_PROMPT
    assert await nothing_queued_or_held(db)


@pytest.mark.parametrize("blank", BLANKS.values(), ids=BLANKS.keys())
def test_names_and_prompts_agree_on_what_is_visible(blank: str) -> None:
    with pytest.raises(InvalidText):
        clean_name(blank)


async def test_invisible_characters_beside_visible_text_are_kept(
    jobs: tuple[JobService, Database],
) -> None:
    service, db = jobs
    # A zero-width joiner is part of an emoji sequence (the astronaut), not a trick.
    queued = await service.queue_scene(
        ALICE, CHANNEL, "Mira", {"prompt": "  \u200b👩\u200d🚀 in orbit\u200b  "}
    )
    assert queued.job.options.prompt == "  \u200b👩\u200d🚀 in orbit\u200b  "
    assert queued.job.image_count == 1
    assert not await nothing_queued_or_held(db)  # what a refusal leaves no trace of


@pytest.mark.parametrize(("options", "sentence"), SCENE_REFUSALS)
async def test_every_refusal_is_a_sentence_of_cameos_own(
    jobs: tuple[JobService, Database], options: dict[str, object], sentence: str
) -> None:
    service, db = jobs
    with pytest.raises(CameoError) as refused:
        await service.queue_scene(ALICE, CHANNEL, "Mira", options)
    assert refused.value.message == sentence
    assert await nothing_queued_or_held(db)


@pytest.mark.parametrize(("options", "sentence"), POSE_REFUSALS)
async def test_pose_sheet_refusals_are_cameos_own_too(
    jobs: tuple[JobService, Database], options: dict[str, object], sentence: str
) -> None:
    service, db = jobs
    with pytest.raises(CameoError) as refused:
        await service.queue_poses(ALICE, CHANNEL, "Mira", options)
    assert refused.value.message == sentence
    assert await nothing_queued_or_held(db)


def refusal(model: type[BaseModel], values: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(values)
    return refusal_of(refused.value)


@pytest.mark.parametrize(("options", "sentence"), SCENE_REFUSALS)
def test_a_scene_is_refused_alike_when_asked_for_and_when_it_runs(
    options: dict[str, object], sentence: str
) -> None:
    # The options are checked when queued; the request again when the runner builds it, which
    # is where a job stored under older rules is refused.
    assert refusal(SceneOptions, options) == sentence
    assert refusal(SceneRequest, {**options, "reference": ImageInput(b"picture")}) == sentence


@pytest.mark.parametrize(("options", "sentence"), POSE_REFUSALS)
def test_a_pose_sheet_is_refused_alike_when_asked_for_and_when_it_runs(
    options: dict[str, object], sentence: str
) -> None:
    assert refusal(PoseOptions, options) == sentence
    assert refusal(PoseRequest, {**options, "subject": ImageInput(b"picture")}) == sentence


def test_a_request_fills_in_what_the_member_left_out() -> None:
    picture = ImageInput(b"picture")
    scene = SceneRequest.from_options(SceneOptions(prompt="  rain  "), reference=picture)
    assert scene == SceneRequest(prompt="rain", reference=picture)
    poses = PoseRequest.from_options(PoseOptions(outputs=3), subject=picture)
    assert poses == PoseRequest(subject=picture, outputs=3)
    assert poses.prompt == "A headshot photo"
