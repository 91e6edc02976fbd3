import asyncio
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.characters.service as characters_module
from bot.characters.archive import MANIFEST_NAME, MAX_ENTRIES, TOO_MANY_ENTRIES, entry_label
from bot.characters.service import (
    MAX_CHARACTERS_PER_SCOPE,
    CharacterNotFound,
    CharacterService,
    NameTaken,
    NotAllowed,
)
from bot.errors import CameoError
from bot.images.processing import ImageRejected, ImageWorkers
from bot.images.store import ImageStore
from bot.models import Character, Viewer, Visibility
from storage.database import Database, open_database
from tests.imagefactory import png

GUILD = 1000
ALICE = Viewer(user_id=1, guild_id=GUILD)
BOB = Viewer(user_id=2, guild_id=GUILD)
MOD = Viewer(user_id=3, guild_id=GUILD, can_manage_guild=True)
ALICE_DM = Viewer(user_id=1, guild_id=None)
ALICE_ELSEWHERE = Viewer(user_id=1, guild_id=2000)


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "cameo.sqlite3") as database:
        yield database


@pytest.fixture
def store(db: Database, tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", db)


@pytest.fixture
def service(db: Database, store: ImageStore) -> CharacterService:
    return CharacterService(db, store, ImageWorkers(), FixedClock())


def stored_files(store: ImageStore) -> list[Path]:
    return sorted(p for p in store.root.glob("*/*") if p.is_file())


async def test_create_stores_the_character_and_its_image(
    service: CharacterService, store: ImageStore
) -> None:
    mira = await service.create(ALICE, name="  Mira  ", image=png(), description="A mage.")
    assert mira.name == "Mira"
    assert mira.description == "A mage."
    assert mira.visibility is Visibility.SERVER
    assert mira.owner_id == ALICE.user_id
    assert mira.guild_id == GUILD
    assert len(mira.public_id) == 6
    assert (mira.original_width, mira.original_height) == (512, 512)
    assert stored_files(store) == [store.path_for(mira.image_sha256, mira.image_format)]
    assert await service.reference_image(mira) == stored_files(store)[0].read_bytes()


async def test_names_are_unique_per_owner_ignoring_case_and_width(
    service: CharacterService,
) -> None:
    await service.create(ALICE, name="Mira", image=png())
    for clash in ("mira", "MIRA", "ＭＩＲＡ"):
        with pytest.raises(NameTaken):
            await service.create(ALICE, name=clash, image=png(seed=3))
    # Another member, another server, or a DM may reuse the name.
    await service.create(BOB, name="Mira", image=png())
    await service.create(ALICE_ELSEWHERE, name="Mira", image=png())
    await service.create(ALICE_DM, name="Mira", image=png())


async def test_a_failed_create_leaves_no_file_behind(
    service: CharacterService, store: ImageStore
) -> None:
    await service.create(ALICE, name="Mira", image=png(seed=1))
    with pytest.raises(NameTaken):
        await service.create(ALICE, name="mira", image=png(seed=2))
    assert len(stored_files(store)) == 1


async def test_concurrent_creates_of_one_name_have_exactly_one_winner(
    service: CharacterService,
) -> None:
    results = await asyncio.gather(
        *(service.create(ALICE, name="Mira", image=png(seed=i)) for i in range(6)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(error, NameTaken) for error in losers)
    assert len(await service.list_visible(ALICE)) == 1


async def test_two_characters_with_the_same_image_share_one_file(
    service: CharacterService, store: ImageStore
) -> None:
    image = png(seed=9)
    first = await service.create(ALICE, name="Mira", image=image)
    second = await service.create(BOB, name="Mira", image=image)
    assert first.image_sha256 == second.image_sha256
    assert len(stored_files(store)) == 1
    await service.delete(ALICE, first.id)
    assert len(stored_files(store)) == 1  # Bob still uses it
    await service.delete(BOB, second.id)
    assert stored_files(store) == []


async def test_visibility_rules(service: CharacterService) -> None:
    shared = await service.create(ALICE, name="Mira", image=png())
    secret = await service.create(ALICE, name="Nox", image=png(), visibility=Visibility.PRIVATE)
    personal = await service.create(ALICE_DM, name="Solo", image=png())
    assert {c.name for c in await service.list_visible(ALICE)} == {"Mira", "Nox", "Solo"}
    assert {c.name for c in await service.list_visible(BOB)} == {"Mira"}
    assert {c.name for c in await service.list_visible(ALICE_DM)} == {"Mira", "Nox", "Solo"}
    assert await service.list_visible(Viewer(user_id=2, guild_id=2000)) == []
    assert (await service.resolve(BOB, shared.public_id)).id == shared.id
    for hidden in (secret.public_id, "Nox", personal.public_id, "Solo"):
        with pytest.raises(CharacterNotFound):
            await service.resolve(BOB, hidden)


async def test_resolve_prefers_the_viewers_own_character_and_refuses_ambiguity(
    service: CharacterService,
) -> None:
    await service.create(ALICE, name="Mira", image=png())
    bobs = await service.create(BOB, name="Mira", image=png())
    assert (await service.resolve(BOB, "mira")).id == bobs.id
    carol = Viewer(user_id=4, guild_id=GUILD)
    with pytest.raises(CameoError, match="More than one character"):
        await service.resolve(carol, "Mira")
    assert (await service.resolve(carol, bobs.public_id)).id == bobs.id


async def add_server_characters(
    db: Database, seed: Character, owners_and_names: list[tuple[int, str]], id_prefix: str
) -> None:
    """Many listed characters in GUILD at once (straight into the table: thousands are slow
    through the service), sharing `seed`'s picture."""
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO characters (public_id, guild_id, owner_id, name, name_key, visibility, "
            "image_sha256, original_sha256, original_format, original_width, original_height, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'server', ?, ?, 'png', 1, 1, '', '')",
            [
                (
                    f"{id_prefix}{i:05d}",
                    GUILD,
                    owner,
                    name,
                    name.lower(),
                    seed.image_sha256,
                    seed.original_sha256,
                )
                for i, (owner, name) in enumerate(owners_and_names)
            ],
        )


async def test_suggestions_put_own_first_then_prefix_then_substring(
    service: CharacterService,
) -> None:
    for name in ("Amira", "Mirabel"):
        await service.create(BOB, name=name, image=png())
    await service.create(ALICE, name="Zmira", image=png())
    await service.create(ALICE, name="Mira", image=png())
    await service.create(BOB, name="Hidden Mira", image=png(), visibility=Visibility.PRIVATE)
    names = [c.name for c in await service.suggest(ALICE, "mir")]
    assert names == ["Mira", "Zmira", "Mirabel", "Amira"]
    assert [c.name for c in await service.suggest(ALICE, "")][:2] == ["Mira", "Zmira"]
    assert await service.suggest(ALICE, "%") == []  # LIKE wildcards are literal


async def test_suggestions_fill_every_place_once_in_order(
    service: CharacterService, db: Database
) -> None:
    # More prefix matches and more substring matches than there are places: each part of the
    # answer asks only for the places left, and never repeats a character already in it.
    seed = await service.create(ALICE, name="Zmira", image=png())
    names = [f"Mira {n:02d}" for n in range(20)] + [f"Amira {n:02d}" for n in range(20)]
    await add_server_characters(db, seed, [(BOB.user_id, name) for name in names], "m")
    names = [c.name for c in await service.suggest(ALICE, "mir")]
    assert len(names) == len(set(names)) == 25
    assert names[0] == "Zmira"
    assert names[1:21] == [f"Mira {n:02d}" for n in range(20)]
    assert all(name.startswith("Amira") for name in names[21:])


async def test_suggestions_stay_within_25_and_fast_on_thousands(
    service: CharacterService, db: Database
) -> None:
    image = await service.create(ALICE, name="Seed", image=png())
    heroes = [(10 + i % 50, f"Hero {i}") for i in range(5000)]
    await add_server_characters(db, image, heroes, "p")
    loop = asyncio.get_running_loop()
    started = loop.time()
    found = await service.suggest(BOB, "hero 4")
    elapsed = loop.time() - started
    assert len(found) == 25
    assert elapsed < 1.0  # generous: a scan of 5,000 rows takes a few milliseconds


async def test_only_the_owner_edits(service: CharacterService, store: ImageStore) -> None:
    mira = await service.create(ALICE, name="Mira", image=png(seed=1))
    with pytest.raises(NotAllowed):
        await service.edit(BOB, mira.public_id, description="vandalised")
    with pytest.raises(NotAllowed):
        await service.edit(MOD, mira.public_id, name="Moderated")
    edited = await service.edit(
        ALICE,
        mira.public_id,
        name="Mira Vale",
        description="New text",
        visibility=Visibility.PRIVATE,
        image=png(seed=2),
    )
    assert (edited.name, edited.description, edited.visibility) == (
        "Mira Vale",
        "New text",
        Visibility.PRIVATE,
    )
    assert edited.image_sha256 != mira.image_sha256
    assert stored_files(store) == [store.path_for(edited.image_sha256, edited.image_format)]


async def test_an_edit_needs_something_to_change(service: CharacterService) -> None:
    mira = await service.create(ALICE, name="Mira", image=png())
    with pytest.raises(CameoError, match="what to change"):
        await service.edit(ALICE, mira.public_id)


async def test_a_rename_onto_an_existing_name_is_refused(service: CharacterService) -> None:
    await service.create(ALICE, name="Mira", image=png())
    nox = await service.create(ALICE, name="Nox", image=png())
    with pytest.raises(NameTaken):
        await service.edit(ALICE, nox.public_id, name="MIRA")


async def test_owner_or_manage_server_may_delete(service: CharacterService) -> None:
    mira = await service.create(ALICE, name="Mira", image=png())
    with pytest.raises(NotAllowed):
        await service.delete(BOB, mira.id)
    elsewhere_mod = Viewer(user_id=3, guild_id=2000, can_manage_guild=True)
    with pytest.raises(NotAllowed):
        await service.delete(elsewhere_mod, mira.id)
    await service.delete(MOD, mira.id)
    with pytest.raises(CharacterNotFound):
        await service.resolve(ALICE, mira.public_id)


async def test_a_moderator_cannot_delete_a_personal_character(service: CharacterService) -> None:
    solo = await service.create(ALICE_DM, name="Solo", image=png())
    with pytest.raises(NotAllowed):
        await service.delete(MOD, solo.id)


async def test_bad_images_and_text_store_nothing(
    service: CharacterService, store: ImageStore
) -> None:
    with pytest.raises(ImageRejected):
        await service.create(ALICE, name="Mira", image=b"not an image")
    with pytest.raises(CameoError, match="at most 32"):
        await service.create(ALICE, name="x" * 33, image=png())
    with pytest.raises(CameoError, match="invisible"):
        await service.create(ALICE, name="Mi\u200bra", image=png())
    with pytest.raises(CameoError, match="at most 1000"):
        await service.create(ALICE, name="Mira", image=png(), description="d" * 1001)
    assert await service.list_visible(ALICE) == []
    assert stored_files(store) == []


async def test_a_database_failure_after_the_file_write_leaves_no_orphan(
    service: CharacterService, store: ImageStore, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from storage import characters as repo

    async def locked(*args: object, **kwargs: object) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(repo, "insert", locked)
    with pytest.raises(sqlite3.OperationalError):
        await service.create(ALICE, name="Mira", image=png())
    assert stored_files(store) == []
    async with db.read() as conn, conn.execute("SELECT COUNT(*) FROM images") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_a_full_disk_is_a_clear_error_and_stores_nothing(
    service: CharacterService, store: ImageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import bot.images.blobs as module

    real_write = module._write_atomically

    def full_disk(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.x.partial")
        partial.write_bytes(data[:100])
        partial.unlink()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, "_write_atomically", full_disk)
    with pytest.raises(CameoError, match="storage is full"):
        await service.create(ALICE, name="Mira", image=png())
    monkeypatch.setattr(module, "_write_atomically", real_write)
    assert stored_files(store) == []
    assert await service.list_visible(ALICE) == []


async def test_orphans_from_a_crash_are_swept(service: CharacterService, store: ImageStore) -> None:
    kept = await service.create(ALICE, name="Mira", image=png())
    # A crash between writing the file and inserting its row leaves a file nobody references.
    orphan = store.root / "ab" / ("ab" + "0" * 62 + ".png")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left behind")
    partial = store.root / "cd" / ".leftover.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"half")
    assert await store.sweep_orphans(grace_seconds=3600) == 0  # too young to be sure
    assert await store.sweep_orphans(grace_seconds=0) == 2
    assert stored_files(store) == [store.path_for(kept.image_sha256, kept.image_format)]


async def test_forget_removes_everything_the_member_owns(
    service: CharacterService, store: ImageStore
) -> None:
    await service.create(ALICE, name="Mira", image=png(seed=1))
    await service.create(ALICE_DM, name="Solo", image=png(seed=2))
    await service.create(ALICE_ELSEWHERE, name="Far", image=png(seed=1))
    bobs = await service.create(BOB, name="Bob's", image=png(seed=3))
    report = await service.forget(ALICE.user_id)
    assert (report.characters, report.images) == (3, 2)
    assert [c.name for c in await service.list_visible(BOB)] == ["Bob's"]
    assert stored_files(store) == [store.path_for(bobs.image_sha256, bobs.image_format)]


@pytest.mark.parametrize("owned", [4, 5])
async def test_forget_erases_many_characters_in_short_steps(
    service: CharacterService,
    store: ImageStore,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    owned: int,
) -> None:
    monkeypatch.setattr(characters_module, "FORGET_STEP", 2)
    for i in range(owned):
        await service.create(ALICE, name=f"Hero {i}", image=png(seed=i % 3))
    bobs = await service.create(BOB, name="Shared look", image=png(seed=0))
    steps: list[int] = []
    real_run = db.run_transaction

    async def counted(work: Any) -> Any:
        result = await real_run(work)
        steps.append(result.characters)
        return result

    monkeypatch.setattr(db, "run_transaction", counted)
    report = await service.forget(ALICE.user_id)
    # Two at a time; a last, empty step only when the count divides evenly.
    assert steps == ([2, 2, 0] if owned == 4 else [2, 2, 1])
    assert (report.characters, report.images) == (owned, 2)  # Bob still uses the first image
    assert [c.name for c in await service.list_visible(ALICE)] == ["Shared look"]
    assert stored_files(store) == [store.path_for(bobs.image_sha256, bobs.image_format)]


async def test_export_then_forget_then_import_restores_the_characters(
    service: CharacterService,
) -> None:
    await service.create(ALICE, name="Mira", image=png(seed=1), description="Mage")
    await service.create(ALICE, name="Nox", image=png(seed=2), visibility=Visibility.PRIVATE)
    before = {
        (c.name, c.description, c.visibility, c.image_sha256, c.original_sha256)
        for c in await service.list_visible(ALICE)
    }
    parts = await service.export(ALICE.user_id, part_limit=10 * 1024 * 1024)
    assert len(parts) == 1
    await service.forget(ALICE.user_id)
    assert await service.list_visible(ALICE) == []
    report = await service.import_archive(ALICE, parts[0])
    assert report.skipped == []
    after = {
        (c.name, c.description, c.visibility, c.image_sha256, c.original_sha256)
        for c in await service.list_visible(ALICE)
    }
    assert after == before


async def test_a_big_export_is_split_into_importable_parts(service: CharacterService) -> None:
    for i in range(3):
        await service.create(ALICE, name=f"Hero {i}", image=png(600, 600, seed=i))
    one_image = len(await service.reference_image((await service.list_visible(ALICE))[0]))
    parts = await service.export(ALICE.user_id, part_limit=one_image + 8000)
    assert len(parts) == 3
    await service.forget(ALICE.user_id)
    for part in parts:
        await service.import_archive(ALICE, part)
    assert len(await service.list_visible(ALICE)) == 3


async def test_import_skips_names_in_use_and_reports_them(service: CharacterService) -> None:
    await service.create(ALICE, name="Mira", image=png(seed=1))
    [archive] = await service.export(ALICE.user_id, part_limit=10 * 1024 * 1024)
    report = await service.import_archive(ALICE, archive)
    assert report.imported == []
    assert report.skipped == [("Mira", "You already have a character by that name.")]


def _manifest(characters: object) -> bytes:
    return json.dumps(
        {"format": "cameo-characters", "version": 1, "exported_at": "x", "characters": characters}
    ).encode()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"plain text", "isn't a Cameo export"),
        (_zip({"other.json": b"{}"}), "isn't a Cameo export"),
        (_zip({MANIFEST_NAME: b"{not json"}), "isn't a Cameo export"),
        (_zip({MANIFEST_NAME: b'{"format": "other", "version": 1}'}), "isn't a Cameo export"),
        (_zip({MANIFEST_NAME: _manifest({"no": "list"})}), "isn't a Cameo export"),
        (_zip({MANIFEST_NAME: b" " * (3 * 1024 * 1024)}), "too large"),
    ],
    ids=["not-zip", "no-manifest", "bad-json", "wrong-format", "no-list", "huge-manifest"],
)
async def test_bad_archives_get_a_clear_error(
    service: CharacterService, data: bytes, message: str
) -> None:
    with pytest.raises(CameoError, match=message):
        await service.import_archive(ALICE, data)
    assert await service.list_visible(ALICE) == []


async def test_an_archive_with_a_bomb_image_imports_nothing_harmful(
    service: CharacterService,
) -> None:
    manifest = (
        b'{"format": "cameo-characters", "version": 1, "exported_at": "x", "characters": ['
        b'{"name": "Bomb", "image": "images/bomb.png"},'
        b' {"name": "Fine", "image": "images/ok.png"}]}'
    )
    data = _zip(
        {
            MANIFEST_NAME: manifest,
            "images/bomb.png": b"\x89PNG" + b"\x00" * (11 * 1024 * 1024),  # compresses to ~11 KB
            "images/ok.png": png(),
        }
    )
    report = await service.import_archive(ALICE, data)
    assert [c.name for c in report.imported] == ["Fine"]
    assert report.skipped[0][0] == "Bomb"
    assert "too big" in report.skipped[0][1]


async def test_each_member_has_a_character_limit(
    service: CharacterService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.characters.service as module

    monkeypatch.setattr(module, "MAX_CHARACTERS_PER_SCOPE", 2)
    await service.create(ALICE, name="One", image=png())
    await service.create(ALICE, name="Two", image=png())
    with pytest.raises(CameoError, match="the most one member can keep"):
        await service.create(ALICE, name="Three", image=png())
    assert MAX_CHARACTERS_PER_SCOPE == 200


async def test_an_edit_racing_a_delete_leaves_no_image_behind(
    service: CharacterService, store: ImageStore, db: Database
) -> None:
    mira = await service.create(ALICE, name="Mira", image=png(seed=1))
    results = await asyncio.gather(
        service.edit(ALICE, mira.public_id, image=png(seed=2)),
        service.delete(ALICE, mira.id),
        return_exceptions=True,
    )
    assert any(isinstance(r, CharacterNotFound) for r in results) or all(
        not isinstance(r, BaseException) for r in results
    )
    assert await service.list_visible(ALICE) == []
    assert stored_files(store) == []
    async with db.read() as conn, conn.execute("SELECT COUNT(*) FROM images") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_in_a_dm_two_own_characters_with_one_name_are_not_guessed(
    service: CharacterService,
) -> None:
    await service.create(ALICE, name="Mira", image=png(seed=1))
    await service.create(ALICE_ELSEWHERE, name="Mira", image=png(seed=2))
    with pytest.raises(CameoError, match="More than one character"):
        await service.resolve(ALICE_DM, "Mira")
    # In a server, the one that belongs to that server is meant.
    assert (await service.resolve(ALICE, "Mira")).guild_id == GUILD


async def test_a_large_jpeg_is_scaled_even_if_otherwise_clean(service: CharacterService) -> None:
    from tests.imagefactory import make_image

    big = await service.create(ALICE, name="Big", image=make_image(4096, 3072, "JPEG"))
    assert (big.original_width, big.original_height) == (4096, 3072)
    stored = await service.reference_image(big)
    from PIL import Image

    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (2048, 1536)


async def test_a_corrupt_compressed_member_is_a_clear_error(service: CharacterService) -> None:
    await service.create(ALICE, name="Mira", image=png(seed=1))
    [archive] = await service.export(ALICE.user_id, part_limit=10 * 1024 * 1024)
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        info = zipped.getinfo(MANIFEST_NAME)
    data = bytearray(archive)
    start = info.header_offset + 30 + len(info.filename)  # local header, then the deflate stream
    data[start : start + 40] = b"\xff" * 40
    await service.forget(ALICE.user_id)
    with pytest.raises(CameoError, match="damaged"):
        await service.import_archive(ALICE, bytes(data))


async def test_an_archive_declaring_a_huge_directory_is_refused_before_parsing(
    service: CharacterService,
) -> None:
    import struct

    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 60000, 60000, 50_000_000, 0, 0)
    with pytest.raises(CameoError, match="too many files"):
        await service.import_archive(ALICE, b"PK\x03\x04" + b"\x00" * 100 + end)


def test_parts_are_measured_and_split_to_fit() -> None:
    from bot.characters.archive import ArchivedCharacter, ExportItem, build_archives

    items = [
        ExportItem(
            ArchivedCharacter(name=f"C{i}", description="d" * 1000, image=f"images/{i}.png"),
            png(300, 300, seed=i),
        )
        for i in range(12)
    ]
    limit = 3 * len(items[0].image)
    parts = build_archives(items, "now", limit)
    assert all(len(part) <= limit for part in parts)
    total = 0
    for part in parts:
        with zipfile.ZipFile(io.BytesIO(part)) as zipped:
            total += len(zipped.namelist()) - 1
    assert total == 12


async def test_bad_entries_are_skipped_with_reasons_and_the_rest_imported(
    service: CharacterService,
) -> None:
    ok = {"image": "images/ok.png"}
    characters = [
        {"name": "Mira", **ok},
        {"name": "N" * 250, **ok},
        {"name": "Nox", "visibility": "public", **ok},
        "not a character",
        {"image": "images/ok.png"},
        {"name": "Pip"},
        {"name": "Long\ntale", "description": "d" * 5000, **ok},
        {"name": "Rue", "description": 7, **ok},
        # Damaged provenance does not cost the character: it is kept as a fresh upload.
        {"name": "Sol", "original_sha256": "not a hash", "original_width": -3, **ok},
        {"name": "Tam", "visibility": "private", **ok},
    ]
    image = png()
    data = _zip({MANIFEST_NAME: _manifest(characters), "images/ok.png": image})
    report = await service.import_archive(ALICE, data)
    assert [(c.name, c.visibility) for c in report.imported] == [
        ("Mira", Visibility.SERVER),
        ("Sol", Visibility.SERVER),
        ("Tam", Visibility.PRIVATE),
    ]
    assert report.skipped == [
        ("N" * 39 + "…", "Names can be at most 32 characters long."),
        ("Nox", "Its visibility must be private, approved or server."),
        ("entry 4", "This entry isn't a character."),
        ("entry 5", "It has no name."),
        ("Pip", "It doesn't say which picture in the file is its own."),
        ("Long tale", "Descriptions can be at most 1000 characters (this one has 5000)."),
        ("Rue", "Its description isn't text."),
    ]
    sol = next(c for c in report.imported if c.name == "Sol")
    assert (sol.original_sha256, sol.original_width) == (hashlib.sha256(image).hexdigest(), 512)


async def test_an_archive_listing_too_many_characters_imports_the_first_ones(
    service: CharacterService,
) -> None:
    # Entries 2 to 500 are refused before any image work, so the test stays fast.
    characters = [{"name": "First", "image": "images/ok.png"}]
    characters += [{"name": f"Odd {i}", "visibility": "?", "image": "x"} for i in range(499)]
    characters += [{"name": "Late", "image": "images/ok.png"}, "not even a character"]
    assert len(characters) == MAX_ENTRIES + 2
    data = _zip({MANIFEST_NAME: _manifest(characters), "images/ok.png": png()})
    report = await service.import_archive(ALICE, data)
    assert [c.name for c in report.imported] == ["First"]
    assert len(report.skipped) == MAX_ENTRIES + 1
    assert report.skipped[-2:] == [
        ("Late", TOO_MANY_ENTRIES),
        (f"entry {MAX_ENTRIES + 2}", TOO_MANY_ENTRIES),
    ]
    assert "more than 500 characters" in TOO_MANY_ENTRIES


async def test_an_export_written_by_this_version_still_imports(
    service: CharacterService,
) -> None:
    """The manifest as export has always written it, fields unknown to this version included."""
    image = png(seed=4)
    entry = {
        "name": "Mira",
        "description": "A mage.",
        "visibility": "private",
        "server_id": "1000",
        "created_at": "2026-01-02T03:04:05Z",
        "image": "images/k7m2q9.png",
        "original_sha256": "a" * 64,
        "original_format": "jpeg",
        "original_width": 4000,
        "original_height": 3000,
        "a_field_from_the_future": True,
    }
    data = _zip({MANIFEST_NAME: _manifest([entry]), "images/k7m2q9.png": image})
    report = await service.import_archive(ALICE, data)
    assert report.skipped == []
    [mira] = report.imported
    assert (mira.name, mira.description, mira.visibility) == ("Mira", "A mage.", Visibility.PRIVATE)
    assert (mira.original_sha256, mira.original_width, mira.original_height) == (
        "a" * 64,
        4000,
        3000,
    )


def test_entry_labels_are_one_short_line() -> None:
    assert entry_label(1, "  Mira  ") == "Mira"
    assert entry_label(2, "Two\nlines\u200b\x00here") == "Two lines here"
    assert entry_label(3, "x" * 1_000_000) == "x" * 39 + "…"
    assert entry_label(4, " \n ") == "entry 4"
    assert entry_label(5, None) == "entry 5"


def test_no_export_part_lists_more_characters_than_import_reads() -> None:
    from bot.characters.archive import ArchivedCharacter, ExportItem, build_archives

    items = [
        ExportItem(ArchivedCharacter(name=f"C{i}", image=f"images/{i}.png"), b"tiny")
        for i in range(MAX_ENTRIES + 1)
    ]
    parts = build_archives(items, "now", part_limit=100 * 1024 * 1024)
    counts = []
    for part in parts:
        with zipfile.ZipFile(io.BytesIO(part)) as zipped:
            counts.append(len(json.loads(zipped.read(MANIFEST_NAME))["characters"]))
    assert counts == [MAX_ENTRIES, 1]


async def test_a_character_awaiting_approval_is_suggested_to_its_owner_only(
    service: CharacterService, db: Database
) -> None:
    # A photograph of a real person, in a server whose moderators approve those first.
    mira = await service.create(ALICE, name="Mira", image=png())
    await db.run_transaction(
        lambda conn: conn.execute(
            "UPDATE characters SET awaiting_approval = 1 WHERE id = ?", (mira.id,)
        )
    )
    assert await service.suggest(BOB, "mi") == []
    assert await service.suggest(BOB, "mira") == []  # nor by substring
    assert [c.name for c in await service.suggest(ALICE, "mi")] == ["Mira"]
    assert await service.suggest(ALICE, "mi", to_use=True) == []  # nobody may use it yet
