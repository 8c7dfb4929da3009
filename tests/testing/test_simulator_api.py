"""The runway flavor's API: auth, validation, lifecycle on the clock, DELETE, credits, uploads and files."""

from __future__ import annotations

import io
import struct
import time
import uuid
import zlib

import av
import httpx
import pytest

from tests.testing.conftest import I2V, IMAGE, PNG_DATA_URI, VERSION, VIDEO, client_for


def _wait_for(client: httpx.Client, task_id: str, wanted: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/v1/tasks/{task_id}").json()
        if task["status"] == wanted:
            return task
        time.sleep(0.02)
    raise AssertionError(f"task never reached {wanted}: {task}")


# ------------------------------------------------------------------------------------------- auth, headers
def test_missing_or_wrong_key_is_401(runway_simulator_direct):
    base = runway_simulator_direct.base_url
    assert httpx.get(f"{base}/v1/organization", headers=VERSION).status_code == 401
    wrong = {"Authorization": "Bearer key_wrong", **VERSION}
    response = httpx.get(f"{base}/v1/organization", headers=wrong)
    assert response.status_code == 401
    assert "error" in response.json()


def test_any_key_accepted_when_none_configured():
    from airflow_provider_runway.testing import Simulator

    with Simulator("runway") as sim:
        ok = httpx.get(
            f"{sim.base_url}/v1/organization", headers={"Authorization": "Bearer whatever", **VERSION}
        )
        empty = httpx.get(
            f"{sim.base_url}/v1/organization", headers={"Authorization": "Basic abc", **VERSION}
        )
    assert ok.status_code == 200
    assert empty.status_code == 401


@pytest.mark.parametrize("version", [None, "2024-09-13", "2024-11-6"])
def test_runway_flavor_requires_exact_version_on_every_call(runway_simulator_direct, version):
    headers = {"Authorization": f"Bearer {runway_simulator_direct.api_key}"}
    if version is not None:
        headers["X-Runway-Version"] = version
    response = httpx.get(f"{runway_simulator_direct.base_url}/v1/organization", headers=headers)
    assert response.status_code == 400
    assert "X-Runway-Version" in response.json()["error"]


# ------------------------------------------------------------------------------------------- creates
@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("image_to_video", I2V),
        (
            "image_to_video",
            {"model": "gen4_turbo", "promptImage": [{"uri": IMAGE, "position": "first"}], "ratio": "960:960"},
        ),
        ("video_to_video", {"model": "aleph2", "videoUri": VIDEO, "promptText": "make it snow"}),
        ("text_to_image", {"model": "gen4_image", "promptText": "a cat", "ratio": "1920:1080"}),
        ("video_upscale", {"model": "magnific_video_upscaler_creative", "videoUri": VIDEO}),
        ("text_to_video", {"model": "gen4.5", "promptText": "a cat", "ratio": "1280:720", "duration": 5}),
        (
            "character_performance",
            {
                "model": "act_two",
                "character": {"type": "image", "uri": IMAGE},
                "reference": {"type": "video", "uri": VIDEO},
                "ratio": "1280:720",
            },
        ),
    ],
)
def test_every_create_endpoint_returns_id_and_estimated_cost(direct, endpoint, body):
    response = direct.post(f"/v1/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert uuid.UUID(payload["id"]).version == 4
    assert payload["estimatedCost"]["credits"] > 0
    assert set(payload) == {"id", "estimatedCost"}


def _issue_paths(response: httpx.Response) -> list[list]:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["error"]
    return [issue["path"] for issue in payload["issues"]]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"promptText": "x" * 1001}, ["promptText"]),
        ({"promptText": "😀" * 501}, ["promptText"]),  # 1002 UTF-16 units, 501 code points
        ({"seed": -1}, ["seed"]),
        ({"seed": 4294967296}, ["seed"]),
        ({"seed": "7"}, ["seed"]),
        ({"ratio": "1280:768"}, ["ratio"]),
        ({"duration": 11}, ["duration"]),
        ({"promptImage": "http://example.com/cat.jpg"}, ["promptImage"]),
        ({"promptImage": "https://93.184.216.34/cat.jpg"}, ["promptImage"]),
        ({"promptImage": "https://example.com/" + "a" * 2040}, ["promptImage"]),
        ({"promptImage": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}, ["promptImage"]),
        ({"promptImage": [{"uri": IMAGE, "position": "last"}]}, ["promptImage", 0, "position"]),
        ({"promptImage": "runway://00000000-0000-4000-8000-000000000000"}, ["promptImage"]),
        (
            {"contentModeration": {"publicFigureThreshold": "none"}},
            ["contentModeration", "publicFigureThreshold"],
        ),
        ({"model": None}, ["model"]),
    ],
)
def test_invalid_image_to_video_bodies_name_the_field(direct, change, path):
    body = {key: value for key, value in {**I2V, **change}.items() if value is not None}
    assert path in _issue_paths(direct.post("/v1/image_to_video", json=body))


def test_missing_required_field_named(direct):
    body = {key: value for key, value in I2V.items() if key != "promptImage"}
    assert ["promptImage"] in _issue_paths(direct.post("/v1/image_to_video", json=body))


def _sized(mime: str, length: int) -> str:
    head = f"data:{mime};base64,"
    return head + "A" * (length - len(head))


def test_data_uri_limits_count_the_whole_uri_as_the_spec_does(direct):
    limit = 5 * 1024 * 1024  # maxLength of promptImage's and videoUri's data: alternatives
    ok = direct.post("/v1/image_to_video", json={**I2V, "promptImage": _sized("image/png", limit)})
    assert ok.status_code == 200, ok.text[:300]
    over = {**I2V, "promptImage": _sized("image/png", limit + 1)}
    assert ["promptImage"] in _issue_paths(direct.post("/v1/image_to_video", json=over))
    aleph = {"model": "aleph2", "promptText": "x"}
    ok = direct.post("/v1/video_to_video", json={**aleph, "videoUri": _sized("video/mp4", limit)})
    assert ok.status_code == 200, ok.text[:300]
    rejected = direct.post("/v1/video_to_video", json={**aleph, "videoUri": _sized("video/mp4", limit + 1)})
    assert ["videoUri"] in _issue_paths(rejected)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("image_to_video", {"model": "gen3a_turbo", "promptImage": IMAGE}),
        ("image_to_video", {"model": "gen9_hyper", "promptImage": IMAGE}),
        ("video_to_video", {"model": "gen4_aleph", "videoUri": VIDEO, "promptText": "snow"}),
        ("video_upscale", {"model": "upscale_v1", "videoUri": VIDEO}),
    ],
)
def test_runway_direct_refuses_models_its_spec_does_not_list(direct, endpoint, body):
    """gen3a_turbo and gen4_aleph exist only behind the gateway: Runway's discriminated union refuses them."""
    response = direct.post(f"/v1/{endpoint}", json=body)
    assert _issue_paths(response) == [["model"]]
    (issue,) = response.json()["issues"]
    assert (
        issue["code"] == "invalid_union_discriminator" and "Invalid discriminator value" in issue["message"]
    )


def test_gateway_accepts_unknown_models_but_universal_rules_apply(gateway):
    body = {"model": "gen9_hyper", "promptImage": PNG_DATA_URI, "ratio": "7:3", "duration": 42}
    assert gateway.post("/v1/image_to_video", json=body).status_code == 200
    bad = {**body, "promptText": "x" * 1001, "seed": 2**32}
    response = gateway.post("/v1/image_to_video", json=bad)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "promptText" in message and "seed" in message


def test_gen3a_turbo_on_the_gateway_takes_what_the_gateway_documents(gateway):
    body = {"model": "gen3a_turbo", "promptImage": [{"uri": IMAGE, "position": "last"}], "ratio": "1280:768"}
    assert gateway.post("/v1/image_to_video", json={**body, "duration": 10}).status_code == 200
    # its page lists the gen4 ratios too, and advises starting with 1280:720
    assert gateway.post("/v1/image_to_video", json={**body, "ratio": "1280:720"}).status_code == 200
    for change in ({"duration": 7}, {"ratio": "1920:1080"}, {"seed": 1_000_000_000}):
        response = gateway.post("/v1/image_to_video", json={**body, **change})
        assert response.status_code == 400 and next(iter(change)) in response.json()["error"]["message"]


def test_gen4_aleph_on_the_gateway_takes_typed_references(gateway):
    body = {"model": "gen4_aleph", "videoUri": VIDEO, "promptText": "snow", "ratio": "1280:720"}
    typed = {**body, "references": [{"type": "image", "uri": IMAGE}]}
    assert gateway.post("/v1/video_to_video", json=typed).status_code == 200
    untyped = gateway.post("/v1/video_to_video", json={**body, "references": [{"uri": IMAGE}]})
    assert untyped.status_code == 400 and "references.0.type" in untyped.json()["error"]["message"]


def test_non_json_body_is_400(direct):
    response = direct.post(
        "/v1/image_to_video", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_text_to_video_and_character_performance_absent_from_gateway(gateway):
    assert gateway.post("/v1/text_to_video", json={"model": "gen4.5", "promptText": "x"}).status_code == 404


# ------------------------------------------------------------------------------------------- lifecycle
def test_lifecycle_pending_running_succeeded_with_rising_progress(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(pending_seconds=0.15, running_seconds=0.4)
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    first = direct.get(f"/v1/tasks/{task_id}").json()
    assert first["status"] == "PENDING"
    assert first["estimatedCost"]["credits"] == 25
    assert "progress" not in first
    progresses = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        task = direct.get(f"/v1/tasks/{task_id}").json()
        if task["status"] == "RUNNING":
            progresses.append(task["progress"])
        if task["status"] == "SUCCEEDED":
            break
        time.sleep(0.03)
    assert task["status"] == "SUCCEEDED"
    assert len(progresses) >= 3
    assert progresses == sorted(progresses)
    assert 0 <= progresses[0] < progresses[-1] < 1
    assert task["cost"] == {"credits": 25}
    assert "estimatedCost" not in task
    assert len(task["output"]) == 1


def test_throttled_when_concurrency_is_full(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(concurrency=1, running_seconds=0.5)
    first = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    second = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    assert direct.get(f"/v1/tasks/{first}").json()["status"] == "RUNNING"
    assert direct.get(f"/v1/tasks/{second}").json()["status"] == "THROTTLED"
    _wait_for(direct, first, "SUCCEEDED")
    assert direct.get(f"/v1/tasks/{second}").json()["status"] in ("RUNNING", "SUCCEEDED")
    _wait_for(direct, second, "SUCCEEDED")


def test_no_update_faster_than_update_interval(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(running_seconds=0.1, update_interval=30)
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    time.sleep(0.3)
    task = direct.get(f"/v1/tasks/{task_id}").json()
    assert task["status"] == "RUNNING"
    assert task["progress"] == 0


def test_per_task_durations_from_model_table_and_header(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(model_durations={"gen4.5": {"running_seconds": 60}})
    slow = direct.post(
        "/v1/text_to_video", json={"model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5}
    ).json()["id"]
    fast = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    held = direct.post("/v1/image_to_video", json=I2V, headers={"X-Sim-Pending-Seconds": "60"}).json()["id"]
    assert direct.get(f"/v1/tasks/{slow}").json()["status"] == "RUNNING"
    assert direct.get(f"/v1/tasks/{fast}").json()["status"] == "SUCCEEDED"
    assert direct.get(f"/v1/tasks/{held}").json()["status"] == "PENDING"


def test_unknown_and_malformed_task_ids(direct):
    assert direct.get(f"/v1/tasks/{uuid.uuid4()}").status_code == 404
    malformed = direct.get("/v1/tasks/not-a-uuid")
    assert malformed.status_code == 400
    assert malformed.json()["issues"][0]["path"] == ["id"]


# ------------------------------------------------------------------------------------------- DELETE
def test_delete_running_task_cancels_and_refunds(runway_simulator_direct, direct):
    control = runway_simulator_direct.control
    control.configure(running_seconds=60)
    balance = direct.get("/v1/organization").json()["creditBalance"]
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    assert direct.get("/v1/organization").json()["creditBalance"] == balance - 25
    response = direct.delete(f"/v1/tasks/{task_id}")
    assert response.status_code == 204
    assert response.content == b""
    task = direct.get(f"/v1/tasks/{task_id}").json()
    assert task["status"] == "CANCELLED"
    assert task["cost"] == {"credits": 0}
    assert direct.get("/v1/organization").json()["creditBalance"] == balance
    assert direct.delete(f"/v1/tasks/{task_id}").status_code == 404
    cancels = control.accounting()["cancels"]
    assert cancels == [
        {"task_id": task_id, "kind": "cancel", "status": "RUNNING", "time": cancels[0]["time"]}
    ]
    assert control.accounting()["orphans"] == []


def test_cancelled_task_can_answer_404(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(pending_seconds=60, cancelled_get="404")
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    assert direct.delete(f"/v1/tasks/{task_id}").status_code == 204
    assert direct.get(f"/v1/tasks/{task_id}").status_code == 404
    assert runway_simulator_direct.control.accounting()["cancels"][0]["status"] == "PENDING"


def test_delete_finished_task_purges_outputs(runway_simulator_direct, direct):
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    assert httpx.get(url).status_code == 200
    assert direct.delete(f"/v1/tasks/{task_id}").status_code == 204
    assert direct.get(f"/v1/tasks/{task_id}").status_code == 404
    assert httpx.get(url).status_code == 404
    accounting = runway_simulator_direct.control.accounting()
    assert accounting["cancels"][0]["kind"] == "delete"
    assert accounting["cancels"][0]["status"] == "SUCCEEDED"
    assert accounting["statuses"][task_id] == "DELETED"


# ------------------------------------------------------------------------------------------- organization
def test_organization_tracks_credits_and_usage(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(credits=60, concurrency=3)
    org = direct.get("/v1/organization").json()
    assert org["creditBalance"] == 60
    assert org["tier"]["models"]["gen4_turbo"]["maxConcurrentGenerations"] == 3
    assert direct.post("/v1/image_to_video", json=I2V).status_code == 200
    assert direct.post("/v1/image_to_video", json=I2V).status_code == 200
    org = direct.get("/v1/organization").json()
    assert org["creditBalance"] == 10
    assert org["usage"]["models"]["gen4_turbo"] == {"dailyGenerations": 2}
    broke = direct.post("/v1/image_to_video", json=I2V)
    assert broke.status_code == 400
    assert "credits" in broke.json()["error"]


def test_daily_limit_answers_429(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(daily_limit=1)
    assert direct.post("/v1/image_to_video", json=I2V).status_code == 200
    assert direct.post("/v1/image_to_video", json=I2V).status_code == 429


# ------------------------------------------------------------------------------------------- uploads
def _upload(direct: httpx.Client, size: int, filename: str = "cat.png") -> tuple[str, httpx.Response]:
    started = direct.post("/v1/uploads", json={"filename": filename, "type": "ephemeral"})
    assert started.status_code == 200, started.text
    payload = started.json()
    assert set(payload) == {"uploadUrl", "fields", "runwayUri"}
    assert payload["runwayUri"].startswith("runway://")
    posted = httpx.post(
        payload["uploadUrl"], data=payload["fields"], files={"file": (filename, b"\x89PNG" + bytes(size - 4))}
    )
    return payload["runwayUri"], posted


def test_two_step_upload_then_create_with_runway_uri(runway_simulator_direct, direct):
    uri, posted = _upload(direct, 4096)
    assert posted.status_code == 204
    assert direct.post("/v1/image_to_video", json={**I2V, "promptImage": uri}).status_code == 200
    uploads = runway_simulator_direct.control.accounting()["uploads"]
    assert uploads[0]["size"] == 4096
    assert uploads[0]["filename"] == "cat.png"


def test_upload_size_limits_and_unfinished_upload(direct):
    uri, posted = _upload(direct, 100)
    assert posted.status_code == 400
    assert b"EntityTooSmall" in posted.content
    assert ["promptImage"] in _issue_paths(
        direct.post("/v1/image_to_video", json={**I2V, "promptImage": uri})
    )


def test_upload_request_validation(direct):
    paths = _issue_paths(direct.post("/v1/uploads", json={"filename": "cat.exe", "type": "permanent"}))
    assert ["filename"] in paths
    assert ["type"] in paths


# ------------------------------------------------------------------------------------------- files
def test_output_mp4_decodes_and_supports_head_and_range(direct):
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    head = httpx.head(url)
    assert head.status_code == 200
    assert head.headers["content-type"] == "video/mp4"
    size = int(head.headers["content-length"])
    assert head.content == b""
    body = httpx.get(url).content
    assert len(body) == size
    with av.open(io.BytesIO(body)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 24
    part = httpx.get(url, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206
    assert part.content == body[4:12]
    assert part.headers["content-range"] == f"bytes 4-11/{size}"


def test_large_output_is_exact_size_and_still_valid_mp4(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(output_size=3 * 1024 * 1024 + 17)
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    body = httpx.get(url).content
    assert len(body) == 3 * 1024 * 1024 + 17
    with av.open(io.BytesIO(body)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 24
    assert runway_simulator_direct.control.accounting()["downloads"][-1]["bytes"] == len(body)


def test_free_box_uses_64_bit_size_beyond_4_gib():
    from airflow_provider_runway.testing import _media

    header = _media.free_box_header(5 * 2**30)
    assert header[:8] == struct.pack(">I4s", 1, b"free")
    assert struct.unpack(">Q", header[8:])[0] == 5 * 2**30
    chunks = _media.iter_mp4(5 * 2**30, start=5 * 2**30 - 10)
    assert b"".join(chunks) == bytes(10)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]))
        pos += 12 + size
    return chunks


def test_text_to_image_output_is_a_png_of_the_requested_size(direct):
    task_id = direct.post(
        "/v1/text_to_image", json={"model": "gen4_image", "promptText": "cat", "ratio": "1360:768"}
    ).json()["id"]
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    response = httpx.get(url)
    assert response.headers["content-type"] == "image/png"
    data = response.content
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = _png_chunks(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    raw = zlib.decompress(b"".join(body for tag, body in chunks if tag == b"IDAT"))
    assert (width, height, depth, color) == (1360, 768, 8, 2)
    assert len(raw) == height * (1 + 3 * width)


def test_expired_output_url_is_403_and_a_new_get_gives_a_fresh_one(runway_simulator_direct, direct):
    runway_simulator_direct.control.configure(output_ttl_seconds=0.2)
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    assert httpx.get(url).status_code == 200
    time.sleep(1.3)
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert b"expired" in expired.content
    fresh = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    assert fresh != url
    assert httpx.get(fresh).status_code == 200


def test_tampered_signature_is_403(direct):
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    assert httpx.get(url[:-4] + "0000").status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 403


def test_keep_alive_serves_many_requests_on_one_connection(runway_simulator_direct):
    with client_for(runway_simulator_direct) as client:
        task_id = client.post("/v1/image_to_video", json=I2V).json()["id"]
        for _ in range(50):
            assert client.get(f"/v1/tasks/{task_id}").status_code == 200
    assert runway_simulator_direct.control.accounting()["gets"][task_id] == 50
