"""Scene cards, Info and /jobs read the job's typed options: what the member chose, and nothing
they left to the service."""

from __future__ import annotations

from bot.jobs.results import JobInfo
from bot.models import Job, JobKind, JobState
from bot.providers.request import GenerationOptions, PoseOptions, SceneOptions, Speed, Style
from cogs.scenes._delivery import _thread_name
from cogs.scenes._render import info_text, jobs_list, scene_card, settings_line


def job(options: GenerationOptions, kind: JobKind = JobKind.SCENE) -> Job:
    return Job(
        id=7,
        kind=kind,
        state=JobState.QUEUED,
        guild_id=10,
        channel_id=20,
        user_id=1,
        character_id=1,
        character_name="Mira",
        reference_sha256=None,
        edit_image_sha256=None,
        edit_mask_sha256=None,
        options=options,
        image_count=1,
        preferred_provider=None,
        provider=None,
        service_job_id=None,
        seed=None,
        credits=0,
        cost=None,
        error=None,
        created_at="2026-11-21T12:00:00Z",
        started_at=None,
        finished_at=None,
        delivered_at=None,
        rerolled_from=None,
    )


def test_only_the_settings_the_member_chose_are_shown() -> None:
    assert settings_line(job(SceneOptions(prompt="rain"))) == "Default settings"
    chosen = SceneOptions(prompt="rain", style=Style.FICTION, speed=Speed.TURBO, count=2)
    assert settings_line(job(chosen)) == "Style: fiction · Speed: turbo · Images: 2"
    poses = job(PoseOptions(outputs=3, output_format="png"), JobKind.POSES)
    assert settings_line(poses) == "Poses: 3 · Format: png"


def test_the_prompt_shows_on_the_card_info_jobs_and_thread_name() -> None:
    scene = job(SceneOptions(prompt="Mira  reading\nby a fireplace", negative_prompt="hats"))
    assert scene_card(scene).description == "Mira  reading\nby a fireplace"
    info = info_text(JobInfo(scene, show_cost=False))
    assert "Prompt: Mira  reading\nby a fireplace" in info
    assert "Negative prompt: hats" in info
    assert "Mira  reading\nby a fireplace" in jobs_list([(scene, 1)])
    assert _thread_name(scene) == "Scene of Mira: Mira reading by a fireplace"


def test_a_pose_sheet_without_a_prompt_says_so() -> None:
    poses = job(PoseOptions(), JobKind.POSES)
    assert scene_card(poses).description is None
    info = info_text(JobInfo(poses, show_cost=False))
    assert "Prompt: default" in info
    assert "Negative prompt" not in info
    assert _thread_name(poses) == "Pose sheet of Mira"
