"""Importing PluralKit and Tupperbox exports through the character service: avatars fetched from
a loopback image host through an injected resolver, every picture checked like an upload."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.characters.service import CharacterService
from bot.clock import SystemClock
from bot.errors import CameoError
from bot.images.processing import ImageWorkers
from bot.images.store import ImageStore
from bot.models import Viewer
from bot.net.safe_fetch import AVATAR_HOSTS, FetchPolicy, SafeImageFetcher
from storage.database import Database, open_database
from tests.bot.net.loopback import HostileHost, answer, picture
from tests.bot.net.test_safe_fetch import resolving
from tests.imagefactory import png

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "foreign"
ALICE = Viewer(user_id=1, guild_id=1000)


@pytest.fixture
async def host() -> AsyncIterator[HostileHost]:
    async with HostileHost() as server:
        yield server


@pytest.fixture
async def service(tmp_path: Path, host: HostileHost) -> AsyncIterator[CharacterService]:
    workers = ImageWorkers()
    # Production's fetcher but for the scheme and port of the loopback host, which every
    # allowlisted host name resolves to here.
    fetcher = SafeImageFetcher(
        images=workers,
        policy=FetchPolicy(require_https=False, ports=frozenset({host.port}), timeout=10.0),
        resolver=resolving({name: ["127.0.0.1"] for name in AVATAR_HOSTS | {"i.imgur.com"}}),
        allow_loopback_for_tests=True,
    )
    async with open_database(tmp_path / "cameo.sqlite3") as db, fetcher:
        yield CharacterService(
            db, ImageStore(tmp_path / "images", db), workers, SystemClock(), fetcher=fetcher
        )


def on_loopback(fixture: str, host: HostileHost) -> bytes:
    """A fixture export with its avatar links pointing at the loopback host (same paths)."""
    text = (FIXTURES / fixture).read_text("utf-8")
    return (
        text.replace("https://cdn.", "http://cdn.")
        .replace(".com/", f".com:{host.port}/")
        .replace(".me/", f".me:{host.port}/")
        .replace(".app/", f".app:{host.port}/")
        .encode()
    )


async def count(db: Database) -> int:
    return await db.run_read(lambda c: c.execute("SELECT count(*) FROM characters").fetchone()[0])


async def test_a_pluralkit_export_becomes_characters_and_says_what_it_skipped(
    service: CharacterService, host: HostileHost
) -> None:
    host.routes["/images/9f/mira.webp"] = picture(png(400, 400, seed=1))
    # Ash's avatar downloads, but is too small to be a reference picture.
    host.routes["/attachments/818181818181818181/828282828282828282/ash.png"] = picture(
        png(120, 120, seed=2)
    )
    report = await service.import_file(ALICE, on_loopback("pluralkit_export.json", host))

    assert report.source == "PluralKit"
    assert [c.name for c in report.imported] == ["Mira"]
    mira = report.imported[0]
    assert "Pronouns: she/her" in mira.description
    assert "Display name: Mira ✨" in mira.description
    reasons = dict(report.skipped)
    assert set(reasons) == {
        "Ash",
        "Juniper",
        "Quill",
        "mira",
        "Bartholomew Archibald Fitzwilliam III",
    }
    assert "only downloads pictures kept by Discord" in reasons["Juniper"]
    assert "256" in reasons["Ash"]
    assert "at most 32 characters" in reasons["Bartholomew Archibald Fitzwilliam III"]
    # Juniper's link was refused before any lookup or request; only allowed hosts were asked.
    assert all("juniper" not in seen.target for seen in host.seen)
    # The stored picture is the cleaned avatar, like any upload's.
    assert (mira.original_width, mira.original_height) == (400, 400)


async def test_a_tupperbox_export_imports_its_tuppers(
    service: CharacterService, host: HostileHost
) -> None:
    host.routes["/pfp/603341648360898581/Mpea1D0KFDgKxt3l.webp"] = picture(png(300, 300, seed=3))
    # Nyx's Discord attachment link has expired: the host answers 404.
    host.routes["/attachments/700000000000000000/700000000000000001/nyx.png"] = answer(404, b"gone")
    report = await service.import_file(ALICE, on_loopback("tupperbox_export.json", host))
    assert report.source == "Tupperbox"
    assert [c.name for c in report.imported] == ["Grimm"]
    assert "Troupe Master" in report.imported[0].description
    reasons = dict(report.skipped)
    assert {"Nyx", "Pip"} <= set(reasons)
    assert "404" in reasons["Nyx"] or "no longer" in reasons["Nyx"]


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b'{"members": "not a list"}', "PluralKit"),
        (b"{" + b'"a":[' * 5000 + b"]" * 5000 + b"}", "nested"),
        (b"{not json", "JSON"),
    ],
)
async def test_a_malicious_file_is_refused_and_changes_nothing(
    service: CharacterService, data: bytes, complaint: str
) -> None:
    with pytest.raises(CameoError, match=complaint):
        await service.import_file(ALICE, data)
    assert await count(service.db) == 0


async def test_a_file_that_is_neither_is_read_as_a_cameo_export(service: CharacterService) -> None:
    with pytest.raises(CameoError, match="isn't a Cameo export"):
        await service.import_file(ALICE, b"PK\x03\x04 definitely not a zip")


async def test_the_same_name_twice_is_imported_once(
    service: CharacterService, host: HostileHost
) -> None:
    host.routes["/pfp/1/a.webp"] = picture(png(300, 300, seed=5))
    export = {
        "tuppers": [
            {"name": "Echo", "avatar_url": f"http://cdn.tupperbox.app:{host.port}/pfp/1/a.webp"},
            {"name": "ECHO", "avatar_url": f"http://cdn.tupperbox.app:{host.port}/pfp/1/a.webp"},
        ]
    }
    report = await service.import_file(ALICE, json.dumps(export).encode())
    assert [c.name for c in report.imported] == ["Echo"]
    assert [name for name, _ in report.skipped] == ["ECHO"]
