"""The real bot with its images in an S3-compatible bucket (CAMEO_IMAGE_STORE=s3://…)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import running_bot
from bot.settings import Settings, SettingsError
from storage.database import StorageError
from tests.cogs.test_scenes import SettingsWith, register, results_in_thread, scene
from tests.conftest import make_settings
from tests.discord.emulator import DiscordEmulator
from tests.s3server import Bucket


async def test_characters_and_scenes_keep_their_pictures_in_the_bucket(
    emulator: DiscordEmulator, data_dir: Path, bucket: Bucket, scene_settings_with: SettingsWith
) -> None:
    settings = scene_settings_with(**bucket.settings())
    async with running_bot(settings, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        await register(emulator)
        after_register = bucket.object_keys()
        assert after_register  # the reference (and its original)
        card, _ = await scene(emulator)
        [result] = await results_in_thread(emulator, card)
        assert result.attachments
        assert len(bucket.object_keys()) > len(after_register)  # the scene's picture
        assert all(key.startswith("images/") for key in bucket.object_keys())
    assert not (data_dir / "images").exists()  # nothing went to the local folder


async def test_a_bucket_that_cannot_be_reached_stops_the_start_with_a_sentence(
    emulator: DiscordEmulator, data_dir: Path, bucket: Bucket
) -> None:
    values = bucket.settings() | {"s3_endpoint": "http://127.0.0.1:9"}  # nothing listens
    settings = make_settings(emulator, data_dir, **values)
    with pytest.raises(SettingsError, match="could not use s3://") as refused:
        async with running_bot(settings, guild_ready_timeout=0.1):
            pass
    assert "cameo-tests-secret" not in str(refused.value)


async def test_a_bucket_that_does_not_exist_is_refused_at_start(
    emulator: DiscordEmulator, data_dir: Path, bucket: Bucket
) -> None:
    values = bucket.settings() | {"image_store": "s3://no-such-bucket/images"}
    settings = make_settings(emulator, data_dir, **values)
    with pytest.raises(SettingsError, match="bucket exists"):
        async with running_bot(settings, guild_ready_timeout=0.1):
            pass


async def test_a_prefix_of_another_database_is_refused_at_start(
    emulator: DiscordEmulator, tmp_path: Path, bucket: Bucket
) -> None:
    first = make_settings(emulator, tmp_path / "first", **bucket.settings())
    async with running_bot(first, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
    again = make_settings(emulator, tmp_path / "first", **bucket.settings())
    async with running_bot(again, guild_ready_timeout=0.1) as bot:  # the same database: fine
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
    other = make_settings(emulator, tmp_path / "second", **bucket.settings())
    with pytest.raises(SettingsError, match="another Cameo's pictures"):
        async with running_bot(other, guild_ready_timeout=0.1):
            pass


async def test_an_image_folder_outside_the_data_directory_is_one_bots_alone(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    shared = str(tmp_path / "pictures")
    first = make_settings(emulator, tmp_path / "first", image_store=shared)
    async with running_bot(first, guild_ready_timeout=0.1) as bot:
        await asyncio.wait_for(bot.wait_until_ready(), timeout=15)
        second = make_settings(emulator, tmp_path / "second", image_store=shared)
        with pytest.raises(StorageError, match="image folder"):
            async with running_bot(second, guild_ready_timeout=0.1):
                pass


@pytest.mark.parametrize(
    ("given", "problem"),
    [("s3://", "must name a bucket"), ("ftp://host/x", "folder"), ("s3:///x", "bucket")],
)
def test_a_bad_image_store_is_refused(given: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=problem):
        Settings(_env_file=None, data_dir=tmp_path, image_store=given)  # type: ignore[call-arg]


def test_a_folder_image_store_is_used_as_the_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, image_store=str(tmp_path / "pics"))  # type: ignore[call-arg]
    assert settings.image_bucket is None
    assert settings.images_dir == tmp_path / "pics"
    relative = Settings(_env_file=None, data_dir=tmp_path, image_store="pics")  # type: ignore[call-arg]
    assert relative.images_dir == tmp_path / "pics"  # inside the data directory
    default = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert default.images_dir == tmp_path / "images"
