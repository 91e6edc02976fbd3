"""Pure checks of the rule tables, mention maths, rate-limit windows and the clock."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.discord import rules
from tests.discord.clock import EmulatorClock, SnowflakeFactory, snowflake_time
from tests.discord.mentions import compute_pings
from tests.discord.ratelimit import RateLimiter
from tests.discord.state import EmulatorOptions, EmulatorState


def _button(custom_id: str, label: str = "x") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": custom_id}


def _row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def _messages(issues: list[rules.Issue]) -> str:
    return " | ".join(issue.describe() for issue in issues)


@pytest.mark.parametrize(
    ("components", "complaint"),
    [
        ([_row(_button(f"b{r}{i}")) for r in range(6) for i in range(1)], "Must be 5 or fewer"),
        ([_row(_button("same"), _button("same"))], "cannot be duplicated"),
        ([_row(_button("a" * 101))], "custom_id: Must be 100 or fewer"),
        ([_row(_button("ok", label="l" * 81))], "label: Must be 80 or fewer"),
        ([_row(_button(""))], "custom_id: This field is required"),
        ([_button("loose")], "must be action rows"),
        (
            [
                _row(
                    {
                        "type": 3,
                        "custom_id": "s",
                        "options": [{"label": str(i), "value": str(i)} for i in range(26)],
                    }
                )
            ],
            "options: Must be 25 or fewer",
        ),
        (
            [
                _row(
                    {"type": 3, "custom_id": "s", "options": [{"label": "a", "value": "a"}]},
                    _button("b"),
                )
            ],
            "alone in its action row",
        ),
    ],
)
def test_component_rules(components: list[dict[str, Any]], complaint: str) -> None:
    assert complaint in _messages(rules.component_issues(components, v2=False))


def test_valid_components_pass() -> None:
    rows = [_row(*[_button(f"b{r}{i}") for i in range(5)]) for r in range(5)]
    assert rules.component_issues(rows, v2=False) == []


def test_embed_total_is_6000_characters_across_embeds() -> None:
    embeds = [{"description": "d" * 3000}, {"description": "d" * 3001}]
    assert "exceeds maximum size of 6000" in _messages(rules.embed_issues(embeds, set()))
    assert rules.embed_issues([{"description": "d" * 4096}], set()) == []
    assert "fields.0.value" in _messages(
        rules.embed_issues([{"fields": [{"name": "n", "value": "v" * 1025}]}], set())
    )


def test_attachment_reference_must_name_an_upload() -> None:
    embed = [{"image": {"url": "attachment://card.png"}}]
    assert rules.embed_issues(embed, {"card.png"}) == []
    assert "does not name a file" in _messages(rules.embed_issues(embed, {"other.png"}))
    warnings = rules.attachment_reference_warnings([{"image": {"url": "attachment://a.bmp"}}])
    assert "only renders" in warnings[0]


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ({"name": ""}, "name: This field is required"),
        ({"name": "n" * 101}, "name: Must be 100 or fewer"),
        ({"name": "ok", "auto_archive_duration": 30}, "auto_archive_duration"),
        ({"name": "ok", "type": 0}, "type"),
    ],
)
def test_thread_rules(payload: dict[str, Any], complaint: str) -> None:
    assert complaint in _messages(rules.thread_issues(payload, from_message=False))


def test_command_rules() -> None:
    good = {
        "name": "scene",
        "description": "Make a scene",
        "options": [
            {"name": "prompt", "description": "What", "type": 3, "required": True},
            {"name": "count", "description": "How many", "type": 4},
        ],
    }
    assert rules.command_list_issues([good]) == []
    misordered = {**good, "options": list(reversed(good["options"]))}
    assert "Required options must be placed before" in _messages(rules.command_issues(misordered))
    assert "Not lowercase" in _messages(rules.command_issues({**good, "name": "Scene"}))
    assert "Duplicate name" in _messages(rules.command_list_issues([good, good]))


def test_autocomplete_choices_rules() -> None:
    too_many = {"choices": [{"name": str(i), "value": str(i)} for i in range(26)]}
    assert "Must be 25 or fewer" in _messages(rules.autocomplete_issues(too_many, 3))
    wrong_type = {"choices": [{"name": "one", "value": "1"}]}
    assert "Must be an integer" in _messages(rules.autocomplete_issues(wrong_type, 4))


def test_mentions_follow_discords_rules() -> None:
    state = EmulatorState(EmulatorOptions())
    alice, bob = state.users_by_name["alice"], state.users_by_name["bob"]
    artist = state.guild.role_named("Artist")
    content = f"hi {alice.mention} {bob.mention} {artist.mention} @here"
    known = set(state.users)

    everything = compute_pings(
        content, None, guild=state.guild, known_user_ids=known, can_mention_everyone=True
    )
    assert everything.users == {alice.id, bob.id}
    assert everything.roles == {artist.id}
    assert everything.everyone

    only_alice = compute_pings(
        content,
        {"parse": [], "users": [str(alice.id)]},
        guild=state.guild,
        known_user_ids=known,
        can_mention_everyone=True,
    )
    assert only_alice.users == {alice.id}
    assert only_alice.roles == set()
    assert not only_alice.everyone

    # Without MENTION_EVERYONE, @here and non-mentionable roles do not ping.
    weak = compute_pings(
        content, None, guild=state.guild, known_user_ids=known, can_mention_everyone=False
    )
    assert weak.roles == set()
    assert not weak.everyone


def test_rate_limit_window_headers_and_refusal() -> None:
    limiter = RateLimiter()
    limiter.set_rate_limit("POST /channels/{channel_id}/messages", 2, 10)
    first = limiter.check("POST /channels/{channel_id}/messages", "1", global_exempt=False)
    assert first.headers["X-RateLimit-Remaining"] == "1"
    second = limiter.check("POST /channels/{channel_id}/messages", "1", global_exempt=False)
    assert second.headers["X-RateLimit-Remaining"] == "0"
    assert float(second.headers["X-RateLimit-Reset"]) > time.time()
    other_channel = limiter.check("POST /channels/{channel_id}/messages", "2", global_exempt=False)
    assert not other_channel.limited
    refused = limiter.check("POST /channels/{channel_id}/messages", "1", global_exempt=False)
    assert refused.limited
    assert refused.body is not None
    assert 9 < refused.body["retry_after"] <= 10
    assert refused.headers["Via"] == "1.1 google"


def test_global_limit_spares_interaction_routes() -> None:
    limiter = RateLimiter(global_limit=2)
    for _ in range(2):
        assert not limiter.check("GET /users/@me", "", global_exempt=False).limited
    assert limiter.check("GET /gateway", "", global_exempt=False).body == {
        "message": "You are being rate limited.",
        "retry_after": pytest.approx(1.0, abs=0.1),
        "global": True,
    }
    assert not limiter.check(
        "POST /webhooks/{webhook_id}/{webhook_token}", "1+t", global_exempt=True
    ).limited


def test_clock_advances_and_snowflakes_grow() -> None:
    clock = EmulatorClock()
    ids = SnowflakeFactory(clock)
    first = ids.next()
    clock.advance(3600)
    second = ids.next()
    assert second > first
    assert snowflake_time(second) - snowflake_time(first) >= 3599
    assert ids.next() > second
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
