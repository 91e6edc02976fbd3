import httpx
import pytest
from pydantic import Field

from bot.providers.answers import (
    Answer,
    Incidental,
    Number,
    Urls,
    read_answer,
    read_error_body,
)
from bot.providers.errors import OutcomeUnknown, Unavailable


class Job(Answer):
    job_id: str = Field(alias="jobId", min_length=1)
    status: str
    result: str | Urls | None = None
    cost: Incidental[Number] = None


def answer(content: bytes | str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=content)


def read(content: bytes | str) -> Job:
    return read_answer(Job, "svc", answer(content), answering="the poll", malformed=Unavailable)


def test_a_well_formed_answer_keeps_only_the_fields_cameo_reads() -> None:
    job = read('{"jobId": "j1", "status": "DONE", "result": ["a", 3, "b"], "extra": {}}')
    assert job.job_id == "j1"
    assert job.result == ["a", "b"]  # an entry that is not a URL is skipped


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"status": "DONE"}', "field `jobId`: Field required"),
        ('{"jobId": "", "status": "DONE"}', "field `jobId`: String should have at least 1"),
        ('{"jobId": "j1", "status": 5}', "field `status`: Input should be a valid string"),
        ('{"jobId": "j1", "status": "DONE", "result": 5}', "field `result`: it has none of"),
        ("{}", "fields `jobId`, `status` (the first: Field required)"),
        ("[1, 2]", "the body is not a JSON object"),
        ("<html>oops</html>", "the body is not JSON"),
    ],
)
def test_a_malformed_answer_is_one_error_naming_the_service_call_and_field(
    content: str, named: str
) -> None:
    with pytest.raises(Unavailable) as raised:
        read(content)
    assert str(raised.value).startswith("svc: malformed answer (HTTP 200) to the poll: ")
    assert named in raised.value.detail


def test_the_call_site_chooses_the_error() -> None:
    with pytest.raises(OutcomeUnknown, match="`jobId`"):
        read_answer(
            Job, "svc", answer('{"status": "x"}'), answering="the job", malformed=OutcomeUnknown
        )


@pytest.mark.parametrize("cost", ['"12"', "true", "{}", "null"])
def test_an_incidental_field_that_cannot_be_read_counts_as_absent(cost: str) -> None:
    assert read(f'{{"jobId": "j1", "status": "DONE", "cost": {cost}}}').cost is None


def test_an_error_body_of_another_shape_is_none_rather_than_an_error() -> None:
    assert read_error_body(Job, answer("<html>Bad gateway</html>", 502)) is None
    parsed = read_error_body(Job, answer('{"jobId": "j1", "status": "x"}', 400))
    assert parsed is not None
    assert parsed.status == "x"
