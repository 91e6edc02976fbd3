"""Looks, who may use a character, and presets, through the real services and database.

The runner is never started here: every job stays queued, so what is asserted is exactly what
a scene would be sent (its reference, its options) and what a member is charged.
"""

from __future__ import annotations

import sqlite3

import pytest

from bot.characters.looks import LookNotFound, LookService
from bot.characters.service import CharacterNotFound, CharacterService, NotAllowed
from bot.characters.sharing import SharingService
from bot.errors import CameoError
from bot.jobs.service import JobService
from bot.models import Character, JobState, Role, Viewer, Visibility
from bot.prefs.preset import Preset
from storage.database import Database
from tests.bot.jobs.test_jobs import ALICE, BOB, GUILD
from tests.imagefactory import png
from tests.postgres import let_grace_pass

CAROL = Viewer(4, GUILD)


async def mira(characters: CharacterService, **options: object) -> Character:
    return await characters.create(ALICE, name="Mira", image=png(seed=1), **options)  # type: ignore[arg-type]


def services(setup) -> tuple[JobService, CharacterService, LookService, SharingService]:  # type: ignore[no-untyped-def]
    jobs, characters, _, _ = setup
    return jobs, characters, jobs.looks, SharingService(characters, jobs)


async def holds(db: Database) -> dict[int, str]:
    def read(conn: sqlite3.Connection) -> dict[int, str]:
        return dict(conn.execute("SELECT job_id, state FROM credit_holds").fetchall())

    return await db.run_read(read)


# -- looks -------------------------------------------------------------------------------------


async def test_a_scene_uses_the_look_it_names_and_the_default_otherwise(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, looks, _ = services(setup)
    character = await mira(characters)
    _, coat = await looks.add(ALICE, "Mira", "winter coat", png(seed=2))
    assert coat.image_sha256 != character.image_sha256

    chosen = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "snow"}, look="Winter Coat")
    plain = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "beach"})

    assert (chosen.job.reference_sha256, chosen.job.look_name) == (coat.image_sha256, "winter coat")
    assert (plain.job.reference_sha256, plain.job.look_name) == (character.image_sha256, "default")
    with pytest.raises(LookNotFound):
        await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"}, look="armour")


async def test_the_default_look_is_the_characters_picture_and_cannot_be_removed(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, looks, _ = services(setup)
    character = await mira(characters)
    _, coat = await looks.add(ALICE, "Mira", "winter coat", png(seed=2))

    updated = await looks.make_default(ALICE, "Mira", "winter coat")
    assert updated.image_sha256 == coat.image_sha256
    names = [(look.name, look.is_default) for look in await looks.looks_of(updated)]
    assert names == [("winter coat", True), ("default", False)]
    with pytest.raises(CameoError, match="default look"):
        await looks.remove(ALICE, "Mira", "winter coat")

    after = await looks.remove(ALICE, "Mira", "default")
    assert [look.name for look in await looks.looks_of(after)] == ["winter coat"]
    # The first picture is no longer used by anything: its row went with the look.
    assert not await characters.db.run_read(
        lambda conn: conn.execute(
            "SELECT 1 FROM images WHERE sha256 = ?", (character.image_sha256,)
        ).fetchone()
    )


async def test_looks_are_limited_named_uniquely_and_renamed(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, looks, _ = services(setup)
    await mira(characters)
    for n in range(9):
        await looks.add(ALICE, "Mira", f"look {n}", png(seed=10 + n))
    with pytest.raises(CameoError, match="already has 10 looks"):
        await looks.add(ALICE, "Mira", "one too many", png(seed=30))
    with pytest.raises(CameoError, match="already has a look called"):
        await looks.rename(ALICE, "Mira", "look 1", "LOOK 2")
    _, new_name = await looks.rename(ALICE, "Mira", "look 1", "age 60")
    assert new_name == "age 60"
    assert [look.name for look in await looks.suggest(BOB, "Mira", "60")] == ["age 60"]


async def test_only_the_owner_and_co_owners_change_looks(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, looks, sharing = services(setup)
    await mira(characters)
    with pytest.raises(NotAllowed):
        await looks.add(BOB, "Mira", "bob's idea", png(seed=3))
    await sharing.share(ALICE, "Mira", BOB.user_id, Role.CO_OWNER)
    _, look = await looks.add(BOB, "Mira", "bob's idea", png(seed=3))
    assert look.name == "bob's idea"


async def test_deleting_a_character_removes_every_looks_picture(setup, db: Database) -> None:  # type: ignore[no-untyped-def]
    _, characters, looks, _ = services(setup)
    character = await mira(characters)
    await looks.add(ALICE, "Mira", "winter coat", png(seed=2))
    await characters.delete(ALICE, character.id)
    remaining = await db.run_read(
        lambda conn: conn.execute("SELECT count(*) FROM images").fetchone()[0]
    )
    assert remaining == 0
    await let_grace_pass(characters.store)  # with PostgreSQL, files wait out a grace period
    assert list(characters.store.root.glob("*/*")) == []


async def test_a_reroll_keeps_the_look_and_refuses_once_it_is_gone(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, looks, _ = services(setup)
    await mira(characters)
    _, coat = await looks.add(ALICE, "Mira", "winter coat", png(seed=2))
    first = await jobs.queue_scene(ALICE, 20, "Mira", {"prompt": "snow"}, look="winter coat")
    await jobs.cancel(ALICE, first.job.id)
    again = await jobs.reroll(ALICE, first.job.id, 20)
    assert again.job.reference_sha256 == coat.image_sha256
    await looks.remove(ALICE, "Mira", "winter coat")
    with pytest.raises(CameoError, match="has been removed"):
        await jobs.reroll(ALICE, first.job.id, 20)


# -- who may use a character -------------------------------------------------------------------


async def test_an_approved_character_is_used_by_exactly_the_approved(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, _, sharing = services(setup)
    await mira(characters, visibility=Visibility.APPROVED)
    # Listed: Carol sees Mira, in suggestions and by name, but may not use her.
    assert [c.name for c in await characters.suggest(CAROL, "mi")] == ["Mira"]
    assert await characters.suggest(CAROL, "mi", to_use=True) == []
    with pytest.raises(NotAllowed, match="approves who may use"):
        await jobs.queue_scene(CAROL, 20, "Mira", {"prompt": "x"})

    await sharing.share(ALICE, "Mira", BOB.user_id, Role.APPROVED)
    assert [c.name for c in await characters.suggest(BOB, "mi", to_use=True)] == ["Mira"]
    queued = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})
    assert queued.job.character_owner_id == ALICE.user_id
    with pytest.raises(NotAllowed):
        await jobs.queue_scene(CAROL, 20, "Mira", {"prompt": "x"})
    # Approved members use it; they do not edit it.
    with pytest.raises(NotAllowed):
        await characters.edit(BOB, "Mira", description="Bob was here")


async def test_an_unlisted_character_is_hidden_from_everyone_not_on_its_list(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, _, sharing = services(setup)
    await mira(characters, visibility=Visibility.APPROVED, listed=False)
    with pytest.raises(CharacterNotFound):
        await characters.resolve(CAROL, "Mira")
    await sharing.share(ALICE, "Mira", BOB.user_id, Role.APPROVED)
    assert (await characters.resolve(BOB, "Mira", to_use=True)).name == "Mira"
    assert [c.name for c in await characters.suggest(BOB, "ira", to_use=True)] == ["Mira"]


async def test_sharing_a_private_character_keeps_it_hidden(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, _, sharing = services(setup)
    await mira(characters, visibility=Visibility.PRIVATE)
    shared = await sharing.share(ALICE, "Mira", BOB.user_id, Role.APPROVED)
    assert (shared.character.visibility, shared.character.listed) == (Visibility.APPROVED, False)
    with pytest.raises(CharacterNotFound):
        await characters.resolve(CAROL, "Mira")


async def test_removing_an_approval_stops_queued_scenes_with_a_refund(  # type: ignore[no-untyped-def]
    setup, db: Database
) -> None:
    jobs, characters, _, sharing = services(setup)
    await mira(characters, visibility=Visibility.APPROVED)
    await sharing.share(ALICE, "Mira", BOB.user_id, Role.APPROVED)
    queued = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})
    alices_own = await jobs.queue_scene(ALICE, 20, "Mira", {"prompt": "x"})
    assert (await holds(db))[queued.job.id] == "held"

    result = await sharing.unshare(ALICE, "Mira", BOB.user_id)

    assert [job.id for job in result.stopped] == [queued.job.id]
    stopped = await jobs.get(queued.job.id)
    assert stopped is not None
    assert stopped.state is JobState.FAILED
    assert "stopped sharing" in (stopped.error or "")
    assert (await holds(db))[queued.job.id] == "refunded"
    assert (await holds(db))[alices_own.job.id] == "held"  # the owner's own scenes go on
    with pytest.raises(NotAllowed):
        await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})


async def test_a_co_owner_edits_but_never_deletes_or_hands_over(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, _, sharing = services(setup)
    character = await mira(characters, visibility=Visibility.PRIVATE)
    await sharing.share(ALICE, "Mira", BOB.user_id, Role.CO_OWNER)
    edited = await characters.edit(BOB, "Mira", description="Now with a backstory")
    assert edited.description == "Now with a backstory"
    with pytest.raises(NotAllowed, match="owner decides"):
        await characters.edit(BOB, "Mira", visibility=Visibility.SERVER)
    with pytest.raises(NotAllowed):
        await characters.delete(BOB, character.id)
    with pytest.raises(NotAllowed):
        await sharing.offer_transfer(BOB, "Mira", CAROL.user_id)
    with pytest.raises(NotAllowed):
        await sharing.share(BOB, "Mira", CAROL.user_id, Role.APPROVED)


async def test_a_transfer_needs_the_receiver_and_a_still_current_offer(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, _, sharing = services(setup)
    character = await mira(characters)
    offer = await sharing.offer_transfer(ALICE, "Mira", BOB.user_id)
    assert (await characters.resolve(ALICE, "Mira")).owner_id == ALICE.user_id  # not yet

    moved = await sharing.accept_transfer(BOB, offer.character.id, offer.from_id)
    assert moved.owner_id == BOB.user_id
    # The same offer cannot be accepted again, by anyone: Alice no longer owns Mira.
    with pytest.raises(CameoError, match="no longer belongs"):
        await sharing.accept_transfer(CAROL, character.id, ALICE.user_id)
    with pytest.raises(NotAllowed):
        await characters.edit(ALICE, moved.public_id, description="mine again?")


async def test_a_transfer_that_would_clash_with_the_receivers_name_changes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, _, sharing = services(setup)
    character = await mira(characters)
    await characters.create(BOB, name="MIRA", image=png(seed=5))
    with pytest.raises(CameoError, match="already have a character with that name"):
        await sharing.accept_transfer(BOB, character.id, ALICE.user_id)
    assert (await characters.get(character.id)).owner_id == ALICE.user_id  # type: ignore[union-attr]


# -- presets -----------------------------------------------------------------------------------


async def test_presets_apply_command_then_member_then_character_then_cameo(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, _, _ = services(setup)
    await mira(characters)
    await characters.edit(
        ALICE,
        "Mira",
        defaults=Preset.checked({"style": "fiction", "aspect_ratio": "16:9", "speed": "quality"}),
    )
    await jobs.prefs.change(BOB, {"style": "realistic", "magic_prompt": "off"})

    queued = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x", "speed": "turbo"})
    options = queued.job.options
    assert (options.style, options.magic_prompt, options.aspect_ratio, options.speed) == (
        "realistic",
        "off",
        "16:9",
        "turbo",
    )
    assert dict(queued.job.option_sources) == {
        "speed": "command",
        "style": "member",
        "magic_prompt": "member",
        "aspect_ratio": "character",
    }
    # Cameo's own defaults fill the rest (the count), and nothing claims them.
    assert options.count is None


async def test_a_resolution_in_the_command_keeps_a_presets_aspect_ratio_out(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, characters, _, _ = services(setup)
    await mira(characters)
    await jobs.prefs.change(BOB, {"aspect_ratio": "16:9"})
    queued = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x", "resolution": "1024x1024"})
    assert (queued.job.options.aspect_ratio, queued.job.options.resolution) == (None, "1024x1024")


async def test_presets_are_per_server_and_forgotten_on_clear(setup) -> None:  # type: ignore[no-untyped-def]
    jobs, _, _, _ = services(setup)
    await jobs.prefs.change(BOB, {"style": "realistic"})
    assert (await jobs.prefs.of(Viewer(BOB.user_id, GUILD + 1))).is_empty
    with pytest.raises(CameoError, match="aspect ratio must be"):
        await jobs.prefs.change(BOB, {"aspect_ratio": "7:3"})
    assert (await jobs.prefs.of(BOB)).style == "realistic"  # a refused change changes nothing
    assert await jobs.prefs.clear(BOB)
    assert (await jobs.prefs.of(BOB)).is_empty


async def test_only_scenes_of_someone_elses_character_credit_its_owner_until_forgotten(
    setup,  # type: ignore[no-untyped-def]
) -> None:
    jobs, characters, _, _ = services(setup)
    await mira(characters)
    own = await jobs.queue_scene(ALICE, 20, "Mira", {"prompt": "x"})
    bobs = await jobs.queue_scene(BOB, 20, "Mira", {"prompt": "x"})
    assert (own.job.character_owner_id, bobs.job.character_owner_id) == (None, ALICE.user_id)

    await jobs.forget(ALICE.user_id)
    kept = await jobs.get(bobs.job.id)
    assert kept is not None
    assert kept.character_owner_id is None  # nothing names Alice any more


async def test_a_personal_character_is_never_shared(setup) -> None:  # type: ignore[no-untyped-def]
    _, characters, _, sharing = services(setup)
    in_dms = Viewer(ALICE.user_id, None)
    await characters.create(in_dms, name="Mira", image=png(seed=1))
    with pytest.raises(CameoError, match="personal character"):
        await sharing.share(in_dms, "Mira", BOB.user_id, Role.APPROVED)
    with pytest.raises(CameoError, match="personal character"):
        await sharing.offer_transfer(in_dms, "Mira", BOB.user_id)
