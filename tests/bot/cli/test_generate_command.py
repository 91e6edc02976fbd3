"""`cameo generate` and `cameo check`, run as a member of staff would, against the fakes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes import FakeApiframe, FakePixelDojo, FakeSegmind
from tests.imagefactory import png


async def cameo(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAMEO_")}
    environment.update(CAMEO_PROVIDER_POLL_SECONDS="0.02", **env)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def service_env(
    segmind: FakeSegmind | None = None,
    apiframe: FakeApiframe | None = None,
    pixeldojo: FakePixelDojo | None = None,
) -> dict[str, str]:
    env: dict[str, str] = {}
    if segmind is not None:
        env.update(CAMEO_SEGMIND_API_KEY=segmind.api_key, CAMEO_SEGMIND_BASE_URL=segmind.base_url)
    if apiframe is not None:
        env.update(
            CAMEO_APIFRAME_API_KEY=apiframe.api_key, CAMEO_APIFRAME_BASE_URL=apiframe.base_url
        )
    if pixeldojo is not None:
        env.update(
            CAMEO_PIXELDOJO_API_KEY=pixeldojo.api_key,
            CAMEO_PIXELDOJO_BASE_URL=pixeldojo.base_url,
        )
    return env


@pytest.fixture
def face(tmp_path: Path) -> Path:
    path = tmp_path / "face.png"
    path.write_bytes(png(600, 600, seed=5))
    return path


async def _generate_and_check_output(tmp_path: Path, face: Path, provider: str, **env: str) -> str:
    out_dir = tmp_path / "out"
    status, out, err = await cameo(
        tmp_path,
        "generate",
        "--reference",
        str(face),
        "--prompt",
        "Mira as a chef",
        "--provider",
        provider,
        "--count",
        "2",
        "--seed",
        "4321",
        "--out",
        str(out_dir),
        **env,
    )
    assert status == 0, err
    written = sorted(out_dir.iterdir())
    assert len(written) == 2
    for path in written:
        with Image.open(path) as image:
            image.verify()
    assert f"provider {provider}, seed 4321" in out
    assert "cost" in out
    return out


async def test_generate_through_segmind(
    tmp_path: Path, face: Path, segmind_fake: FakeSegmind
) -> None:
    out = await _generate_and_check_output(tmp_path, face, "segmind", **service_env(segmind_fake))
    assert "0.375 USD" in out  # two default-speed images at $0.1875
    assert segmind_fake.billed == 2


async def test_generate_through_apiframe(
    tmp_path: Path, face: Path, apiframe_fake: FakeApiframe
) -> None:
    out = await _generate_and_check_output(
        tmp_path, face, "apiframe", **service_env(apiframe=apiframe_fake)
    )
    assert "30 Apiframe credits" in out
    assert apiframe_fake.billed == 2


async def test_generate_through_pixeldojo(
    tmp_path: Path, face: Path, pixeldojo_fake: FakePixelDojo, apiframe_fake: FakeApiframe
) -> None:
    await _generate_and_check_output(
        tmp_path, face, "pixeldojo", **service_env(apiframe=apiframe_fake, pixeldojo=pixeldojo_fake)
    )
    assert pixeldojo_fake.billed == 1  # PixelDojo makes both images in one job
    assert apiframe_fake.billed == 0


async def test_generate_sends_a_documented_resolution(
    tmp_path: Path, face: Path, segmind_fake: FakeSegmind
) -> None:
    out_dir = tmp_path / "out"
    status, _, err = await cameo(
        tmp_path,
        "generate",
        "--reference",
        str(face),
        "--prompt",
        "Mira on a wide beach",
        "--resolution",
        "1344x768",
        "--aspect-ratio",
        "16:9",
        "--out",
        str(out_dir),
        **service_env(segmind_fake),
    )
    assert status == 0, err
    body = segmind_fake.requests[-1].body
    assert body["resolution"] == "1344x768"
    assert "aspect_ratio" not in body
    [written] = out_dir.iterdir()
    with Image.open(written) as image:
        assert image.width > image.height


async def test_generate_fails_over_and_says_where_it_went(
    tmp_path: Path, face: Path, segmind_fake: FakeSegmind, apiframe_fake: FakeApiframe
) -> None:
    segmind_fake.fail_next(503)
    status, out, err = await cameo(
        tmp_path,
        "generate",
        "--reference",
        str(face),
        "--prompt",
        "Mira",
        "--out",
        str(tmp_path),
        **service_env(segmind_fake, apiframe_fake),
    )
    assert status == 0, err
    assert "provider apiframe" in out


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--reference", "missing.png", "--prompt", "x"], "can't read missing.png"),
        (["--reference", "notes.txt", "--prompt", "x"], "isn't a picture"),
        (["--reference", "face.png", "--prompt", "   "], "prompt"),
        (["--reference", "face.png", "--prompt", "x", "--seed", "5"], "seed 5"),
        (
            ["--reference", "face.png", "--prompt", "x", "--resolution", "1000x1000"],
            "1000x1000 isn't a resolution the image services offer",
        ),
        (["--reference", "face.png", "--prompt", "x", "--resolution", "big"], "width and height"),
        (
            [
                *("--reference", "face.png", "--prompt", "x"),
                *("--resolution", "1024x1024", "--aspect-ratio", "16:9"),
            ],
            "1024x1024 makes a 1:1 picture, not 16:9",
        ),
    ],
)
async def test_generate_errors_are_one_clear_line(
    tmp_path: Path, face: Path, segmind_fake: FakeSegmind, args: list[str], complaint: str
) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    status, _, err = await cameo(
        tmp_path, "generate", *args, "--provider", "segmind", **service_env(segmind_fake)
    )
    assert status != 0
    assert complaint in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert segmind_fake.billed == 0


async def test_generate_reports_a_bad_key_without_showing_it(
    tmp_path: Path, face: Path, segmind_fake: FakeSegmind
) -> None:
    env = service_env(segmind_fake)
    env["CAMEO_SEGMIND_API_KEY"] = "SG_" + "f" * 16
    status, out, err = await cameo(
        tmp_path, "generate", "--reference", str(face), "--prompt", "x", **env
    )
    assert status == 1
    assert "SG_" + "f" * 16 not in out + err
    assert "Traceback" not in err


async def test_check_reports_which_services_work(
    tmp_path: Path,
    segmind_fake: FakeSegmind,
    apiframe_fake: FakeApiframe,
    pixeldojo_fake: FakePixelDojo,
) -> None:
    env = service_env(segmind_fake, apiframe_fake, pixeldojo_fake)
    status, out, err = await cameo(tmp_path, "check", **env)
    assert status == 0, out + err
    assert "segmind: OK (balance" in out
    assert "apiframe: OK (balance" in out
    assert "pixeldojo: OK" in out
    env["CAMEO_PIXELDOJO_API_KEY"] = "pd_not_the_right_key_at_all_000"
    status, out, _ = await cameo(tmp_path, "check", **env)
    assert status == 1
    assert "pixeldojo: FAILED" in out
    assert "pd_not_the_right_key" not in out
    assert segmind_fake.billed == apiframe_fake.billed == pixeldojo_fake.billed == 0
