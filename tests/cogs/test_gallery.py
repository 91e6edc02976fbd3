"""End to end: /gallery pages through real discord.py, loopback Discord and the fake services."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from bot.client.cameo_bot import CameoBot
from tests.cogs.test_scenes import button, register, results_in_thread, scene
from tests.discord.emulator import DiscordEmulator, Message
from tests.imagefactory import png


def lines(page: Message) -> list[str]:
    text = page.embeds[0].get("description") or ""
    return [line for line in text.split("\n") if re.match(r"\*\*\d+\*\*", line)]


def menu(page: Message) -> dict[str, Any]:
    found = next(
        (c for c in _components(page) if str(c.get("custom_id", "")).startswith("cameo:galopen:")),
        None,
    )
    assert found is not None, "the page has no menu to open an entry"
    return found


def _components(page: Message) -> list[dict[str, Any]]:
    return [c for row in page.components for c in row.get("components", [])]


def arrow(page: Message, label: str) -> dict[str, Any]:
    return next(b for b in page.buttons() if b["label"] == label)


def sheet(page: Message) -> Image.Image:
    attachment = page.embed_attachment()
    assert attachment is not None, "the page shows no contact sheet"
    return Image.open(io.BytesIO(attachment.data))


async def page_of(emulator: DiscordEmulator, user: str, command: str, **options: object) -> Message:
    ix = await emulator.slash(emulator.user(user), command, **options)
    page = await ix.response()
    assert page.ephemeral
    return page


async def turn(emulator: DiscordEmulator, user: str, page: Message, label: str) -> Message:
    """Click ◀ or ▶ and wait for the page to be drawn in place (the click is deferred first)."""
    edits = emulator.message(page.id).edit_count
    click = await emulator.click(emulator.user(user), page, arrow(page, label)["custom_id"])
    await click.wait_ack()
    await emulator._state.wait_until(
        lambda: emulator.message(page.id).edit_count > edits, 10, "the next page"
    )
    return emulator.message(page.id)


async def test_characters_page_as_a_contact_sheet_with_arrows_and_a_menu(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    for i in range(14):
        await register(emulator, "alice", f"Hero {i:02d}", image=png(300, 300, seed=i))
    await register(emulator, "bob", "Secret", image=png(seed=40), visibility="private")

    first = await page_of(emulator, "carol", "gallery characters")
    assert len(lines(first)) == 12
    assert "Hero 13" in lines(first)[0]  # newest first
    assert "Page 1" in first.embeds[0]["footer"]["text"]
    assert arrow(first, "◀")["disabled"]
    assert not arrow(first, "▶")["disabled"]
    picture = sheet(first)
    assert picture.width > picture.height  # four across, three down
    assert len(menu(first)["options"]) == 12

    second = await turn(emulator, "carol", first, "▶")
    assert [line.split(" · ")[0] for line in lines(second)] == ["**1** Hero 01", "**2** Hero 00"]
    assert "Page 2" in second.embeds[0]["footer"]["text"]
    assert arrow(second, "▶")["disabled"]
    assert not arrow(second, "◀")["disabled"]
    back = await turn(emulator, "carol", second, "◀")
    assert lines(back)[0].startswith("**1** Hero 13")
    assert len(lines(back)) == 12

    # Opening one shows its card, to the member who asked alone.
    chosen = menu(back)["options"][0]["value"]
    opened = await emulator.select(emulator.user("carol"), back, menu(back)["custom_id"], [chosen])
    card = await opened.response()
    assert card.ephemeral
    assert card.embeds[0]["title"] == "Hero 13"

    # A private character: its owner sees it, nobody else does, on any page.
    everything = " ".join(lines(first) + lines(second))
    assert "Secret" not in everything
    own = await page_of(emulator, "bob", "gallery characters")
    assert "Secret" in lines(own)[0]

    # The last two go while carol looks at page 1: ▶ finds nothing, and offers the start.
    for name in ("Hero 01", "Hero 00"):
        ix = await emulator.slash(emulator.user("alice"), "character delete", character=name)
        confirm = await ix.response()
        yes = next(b for b in confirm.buttons() if b["style"] == 4)
        await (await emulator.click(emulator.user("alice"), confirm, yes["custom_id"])).wait_ack()
        await emulator._state.wait_until(
            lambda confirm=confirm: "Deleted" in emulator.message(confirm.id).content,
            10,
            "the deletion",
        )
    empty = await turn(emulator, "carol", back, "▶")
    assert "No more here" in empty.embeds[0]["description"]
    start_again = await turn(emulator, "carol", empty, "⏮ First page")
    assert lines(start_again)[0].startswith("**1** Hero 13")

    by_name = await page_of(emulator, "carol", "gallery characters", sort="name")
    assert lines(by_name)[0].startswith("**1** Hero 02")
    only_bob = await page_of(emulator, "carol", "gallery characters", member=emulator.user("bob"))
    assert lines(only_bob) == []
    assert "Nothing here yet" in only_bob.embeds[0]["description"]


async def test_scenes_and_favourites_show_only_what_the_viewer_may_see(
    emulator: DiscordEmulator, segmind_bot: CameoBot
) -> None:
    await register(emulator, "alice", "Mira")
    await register(emulator, "bob", "Nox", image=png(seed=5), visibility="private")
    alices = []
    for prompt in ("reading by a fireplace", "walking in the rain"):
        card, _ = await scene(emulator, "alice", prompt=prompt)
        alices.append((await results_in_thread(emulator, card))[0])
    card, _ = await scene(emulator, "bob", character="Nox", prompt="a secret garden")
    await results_in_thread(emulator, card)

    seen_by_carol = await page_of(emulator, "carol", "gallery scenes")
    assert len(lines(seen_by_carol)) == 2
    assert "walking in the rain" in lines(seen_by_carol)[0]  # newest first
    assert all("Nox" not in line and "secret" not in line for line in lines(seen_by_carol))
    assert len(await _menu_values(seen_by_carol)) == 2
    seen_by_bob = await page_of(emulator, "bob", "gallery scenes")
    assert len(lines(seen_by_bob)) == 3

    # Naming a private character someone else owns is refused, privately.
    refused = await emulator.slash(emulator.user("carol"), "gallery scenes", character="Nox")
    answer = await refused.response()
    assert answer.ephemeral
    assert "can't find a character" in answer.content

    # Opening a picture shows it full size with how it was made, and where its thread is.
    first = await _menu_values(seen_by_carol)
    opened = await emulator.select(
        emulator.user("carol"), seen_by_carol, menu(seen_by_carol)["custom_id"], [first[0]]
    )
    shown = await opened.response()
    assert shown.ephemeral
    assert "walking in the rain" in shown.embeds[0]["description"]
    assert shown.embed_attachment() is not None
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert fields["Thread"].startswith("<#")
    assert shown.pinged_user_ids == set()

    # Favourites: only marked pictures; a deleted result leaves every gallery at once.
    favorite = await emulator.click(
        emulator.user("alice"), alices[0], button(alices[0], "cameo:fav:")
    )
    await favorite.wait_ack()
    favorites = await page_of(emulator, "carol", "gallery favorites")
    assert len(lines(favorites)) == 1
    assert "fireplace" in lines(favorites)[0]
    deleted = await emulator.click(
        emulator.user("alice"), alices[0], button(alices[0], "cameo:del:")
    )
    await deleted.wait_ack()
    await emulator._state.wait_until(lambda: emulator.message(alices[0].id).deleted, 5, "deletion")
    assert lines(await page_of(emulator, "carol", "gallery favorites")) == []
    assert len(lines(await page_of(emulator, "carol", "gallery scenes"))) == 1

    # Mira's own pictures, and the pictures a member asked for.
    of_mira = await page_of(emulator, "carol", "gallery scenes", character="Mira")
    assert len(lines(of_mira)) == 1
    by_bob = await page_of(emulator, "alice", "gallery scenes", member=emulator.user("bob"))
    assert lines(by_bob) == []


async def test_the_gallery_is_offered_in_servers_only(
    emulator: DiscordEmulator, cameo: CameoBot
) -> None:
    gallery = next(c for c in emulator.commands(emulator.guild) if c["name"] == "gallery")
    assert gallery.get("contexts") == [0]  # guild only: never offered in DMs


async def _menu_values(page: Message) -> list[str]:
    return [option["value"] for option in menu(page)["options"]]
