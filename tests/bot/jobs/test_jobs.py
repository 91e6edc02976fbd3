"""Queueing and cancelling jobs: every check happens before anything is queued or held."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.characters.service import CharacterNotFound, CharacterService
from bot.errors import CameoError
from bot.jobs.service import MAX_ACTIVE_JOBS_PER_MEMBER, JobNotFound
from bot.models import Character, JobState, Viewer, Visibility
from bot.providers.errors import NoProviderAvailable
from bot.providers.request import SceneOptions, Speed, Style
from storage import jobs as repo
from storage.database import Database
from tests.bot.jobs.test_job_runner import queue_as_before
from tests.fakes import FakeSegmind
from tests.imagefactory import png

GUILD = 10
ALICE = Viewer(1, GUILD)
BOB = Viewer(2, GUILD)
MOD = Viewer(3, GUILD, can_manage_guild=True)


async def count_jobs(db: Database) -> int:
    return int(await db.run_read(lambda c: c.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]))


async def mira(characters: CharacterService, **options: object) -> Character:
    return await characters.create(ALICE, name="Mira", image=png(seed=1), **options)  # type: ignore[arg-type]


async def test_a_scene_is_queued_then_made(setup, db: Database) -> None:  # type: ignore[no-untyped-def]
    service, characters, listener, runner = setup
    await mira(characters)
    queued = await service.queue_scene(
        BOB, 20, "Mira", {"prompt": "Mira as a chef", "speed": "turbo", "count": 2}
    )
    assert queued.job.state is JobState.QUEUED
    assert queued.position == 1
    assert queued.job.image_count == 2
    await runner.start()
    await listener.until(lambda: listener.finished)
    assert len(listener.finished[0][1]) == 2


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"prompt": "   "}, "a prompt with at least one visible character"),
        ({"prompt": "x", "count": 9}, "Ask for 1 to 4 pictures"),
        ({"prompt": "x", "aspect_ratio": "7:3"}, "aspect ratio must be"),
        ({"prompt": "x", "speed": "ludicrous"}, "speed must be"),
    ],
)
async def test_invalid_options_are_refused_before_queueing(  # type: ignore[no-untyped-def]
    setup, db: Database, options: dict[str, object], complaint: str
) -> None:
    service, characters, _, _ = setup
    await mira(characters)
    with pytest.raises(CameoError, match=complaint):
        await service.queue_scene(ALICE, 20, "Mira", options)
    assert await count_jobs(db) == 0


async def test_a_private_character_cannot_be_used_by_others(setup, db: Database) -> None:  # type: ignore[no-untyped-def]
    service, characters, _, _ = setup
    await mira(characters, visibility=Visibility.PRIVATE)
    with pytest.raises(CharacterNotFound):
        await service.queue_scene(BOB, 20, "Mira", {"prompt": "x"})
    assert await count_jobs(db) == 0


async def test_a_request_no_service_can_honour_is_refused_before_queueing(  # type: ignore[no-untyped-def]
    setup, db: Database, segmind_fake: FakeSegmind
) -> None:
    service, characters, _, _ = setup
    await mira(characters)
    with pytest.raises(NoProviderAvailable) as raised:
        await service.queue_scene(ALICE, 20, "Mira", {"prompt": "x", "negative_prompt": "hats"})
    assert "negative prompt" in raised.value.message
    assert await count_jobs(db) == 0
    assert segmind_fake.requests == []


async def test_region_edits_need_a_matching_image_and_mask(setup, db: Database) -> None:  # type: ignore[no-untyped-def]
    service, characters, _, _ = setup
    await mira(characters)
    with pytest.raises(CameoError, match="both the image and its mask"):
        await service.queue_scene(ALICE, 20, "Mira", {"prompt": "x"}, edit_image=png(400, 400))
    with pytest.raises(CameoError, match="same size"):
        await service.queue_scene(
            ALICE, 20, "Mira", {"prompt": "x"}, edit_image=png(400, 400), edit_mask=png(300, 300)
        )
    assert await count_jobs(db) == 0
    queued = await service.queue_scene(
        ALICE, 20, "Mira", {"prompt": "x"}, edit_image=png(400, 400), edit_mask=png(400, 400, 2)
    )
    assert queued.job.edit_image_sha256 is not None
    assert queued.job.edit_mask_sha256 is not None


async def test_cancel_is_for_the_owner_or_a_moderator(setup, db: Database) -> None:  # type: ignore[no-untyped-def]
    service, characters, _, _ = setup
    await mira(characters)
    first = (await service.queue_scene(ALICE, 20, "Mira", {"prompt": "x"})).job
    second = (await service.queue_scene(ALICE, 20, "Mira", {"prompt": "y"})).job
    with pytest.raises(JobNotFound):
        await service.cancel(BOB, first.id)
    assert (await service.cancel(ALICE, first.id)).state is JobState.CANCELLED
    assert (await service.cancel(MOD, second.id)).state is JobState.CANCELLED
    with pytest.raises(CameoError, match="already finished"):
        await service.cancel(ALICE, first.id)
    assert await service.active(ALICE) == []


async def test_positions_and_the_per_member_cap(setup, db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import bot.jobs.service as module

    service, characters, _, _ = setup
    await mira(characters)
    monkeypatch.setattr(module, "MAX_ACTIVE_JOBS_PER_MEMBER", 3)
    for prompt in ("a", "b", "c"):
        await service.queue_scene(ALICE, 20, "Mira", {"prompt": prompt})
    with pytest.raises(CameoError, match="already have 3 pictures on the way"):
        await service.queue_scene(ALICE, 20, "Mira", {"prompt": "d"})
    bobs = await service.queue_scene(BOB, 20, "Mira", {"prompt": "e"})
    assert bobs.position == 2  # Bob's first job goes right after Alice's first
    assert [q.position for q in await service.active(ALICE)] == [1, 3, 4]
    assert MAX_ACTIVE_JOBS_PER_MEMBER == 20
    assert len(await db.run_read(lambda conn: repo.active_for_user(conn, ALICE.user_id))) == 3


async def test_info_is_for_the_jobs_server_and_delete_forgets_the_request(  # type: ignore[no-untyped-def]
    setup, db: Database, tmp_path: Path
) -> None:
    from bot.jobs.results import ResultService

    service, characters, listener, runner = setup
    await characters.create(ALICE, name="Mira", image=png())
    await runner.start()
    queued = await service.queue_scene(ALICE, 20, "Mira", {"prompt": "rain"})
    await listener.until(lambda: listener.finished)
    results = ResultService(db, service.store, characters)
    assert (await results.info(BOB, queued.job.id)).show_cost is False
    assert (await results.info(ALICE, queued.job.id)).show_cost is True
    with pytest.raises(JobNotFound):
        await results.info(Viewer(2, GUILD + 1), queued.job.id)  # another server
    with pytest.raises(CameoError):
        await results.delete(BOB, queued.job.id, [0])
    await results.delete(MOD, queued.job.id, [0])
    # Nothing left: the request goes too.
    assert await db.run_read(lambda conn: repo.get(conn, queued.job.id)) is None


async def test_a_job_queued_before_typed_options_rerolls_with_the_same_choices(  # type: ignore[no-untyped-def]
    setup, db: Database
) -> None:
    service, characters, listener, runner = setup
    character = await mira(characters)
    old = await queue_as_before(
        db,
        character,
        {"prompt": "Mira as a chef", "style": "fiction", "speed": "turbo", "seed": 4242},
    )
    await runner.start()
    await listener.until(lambda: listener.finished)
    again = await service.reroll(ALICE, old.id, 20)
    # The same choices but the seed, so the service picks a new one; stored in today's format.
    assert again.job.options == SceneOptions(
        prompt="Mira as a chef", style=Style.FICTION, speed=Speed.TURBO
    )
    assert again.job.rerolled_from == old.id
    await listener.until(lambda: len(listener.finished) == 2)
    assert [job.state for job, _ in listener.finished] == [JobState.SUCCEEDED] * 2
