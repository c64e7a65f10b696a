"""Roadmap items through the roadmap service's HTTP API, on both databases."""

import asyncio

import pytest

from tests.roadmap_helpers import change_count, create_item, create_tags, item_body


@pytest.fixture(autouse=True)
async def _tags(roadmap):
    await create_tags(roadmap)


async def test_create_answers_201_with_etag_location_and_version_1(roadmap):
    response = await roadmap.post("/items", json=item_body())

    assert response.status_code == 201
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == "/items/RM-12"
    body = response.json()
    assert body["version"] == 1
    assert body["vision_tags"] == ["enterprise-security"]
    assert body["planned_end"] == "2027-03-01"
    fetched = await roadmap.get("/items/RM-12")
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"1"'


async def test_identical_repeat_of_a_create_answers_200_and_writes_nothing(roadmap):
    first = await create_item(roadmap)
    before = await change_count(roadmap)

    again = await roadmap.post("/items", json=item_body())

    assert again.status_code == 200
    assert again.json() == first
    assert await change_count(roadmap) == before


async def test_create_of_an_existing_key_with_other_values_is_409(roadmap):
    await create_item(roadmap)
    before = await change_count(roadmap)

    response = await roadmap.post("/items", json=item_body(title="Something else"))

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert (await roadmap.get("/items/RM-12")).json()["title"] == "SSO with Okta"
    assert await change_count(roadmap) == before


async def test_concurrent_identical_creates_make_one_item_and_one_change(roadmap):
    before = await change_count(roadmap)

    responses = await asyncio.gather(*(roadmap.post("/items", json=item_body()) for _ in range(12)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 11 + [201]
    assert await change_count(roadmap) == before + 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"key": "rm-12"}, "body.key"),
        ({"key": "RM-0"}, "body.key"),
        ({"title": "   "}, "body.title"),
        ({"status": "done"}, "body.status"),
        ({"confidence": "certain"}, "body.confidence"),
        ({"planned_end": "2026-12-31"}, "body.planned_end"),
        ({"planned_end": "not-a-date"}, "body.planned_end"),
        ({"owner": "not an email"}, "body.owner"),
        ({"vision_tags": ["Not A Slug"]}, "body.vision_tags.0"),
        ({"colour": "blue"}, "body.colour"),
    ],
)
async def test_invalid_item_is_a_422_problem_naming_the_field_and_writes_nothing(
    roadmap, overrides, field
):
    before = await change_count(roadmap)

    response = await roadmap.post("/items", json=item_body(**overrides))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert field in [error["field"] for error in problem["errors"]]
    assert await change_count(roadmap) == before
    assert (await roadmap.get("/items/RM-12")).status_code == 404


async def test_unknown_vision_tags_are_refused_by_name(roadmap):
    response = await roadmap.post("/items", json=item_body(vision_tags=["mobile", "on-prem"]))

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body.vision_tags"
    assert "mobile" in error["message"]
    assert "on-prem" not in error["message"]


async def test_missing_item_is_a_404_problem(roadmap):
    response = await roadmap.get("/items/RM-404")

    assert response.status_code == 404
    assert response.json()["type"] == "urn:dealgate:problem:not-found"


async def test_patch_changes_the_fields_given_and_bumps_version_and_etag(roadmap):
    await create_item(roadmap)

    response = await roadmap.patch(
        "/items/RM-12", json={"planned_end": "2027-05-01", "confidence": "low"}
    )

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    body = response.json()
    assert (body["planned_end"], body["confidence"], body["version"]) == ("2027-05-01", "low", 2)
    assert body["title"] == "SSO with Okta"


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(roadmap):
    await create_item(roadmap)
    await roadmap.patch("/items/RM-12", json={"confidence": "high"})

    response = await roadmap.patch(
        "/items/RM-12", json={"planned_end": "2027-09-01"}, headers={"If-Match": '"1"'}
    )

    assert response.status_code == 412
    current = (await roadmap.get("/items/RM-12")).json()
    assert (current["planned_end"], current["version"]) == ("2027-03-01", 2)


async def test_patch_with_the_current_if_match_applies(roadmap):
    await create_item(roadmap)

    response = await roadmap.patch(
        "/items/RM-12", json={"status": "in_progress"}, headers={"If-Match": '"1"'}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"


async def test_weak_if_match_never_matches(roadmap):
    await create_item(roadmap)

    response = await roadmap.patch(
        "/items/RM-12", json={"status": "shipped"}, headers={"If-Match": 'W/"1"'}
    )

    assert response.status_code == 412


async def test_patch_that_changes_nothing_keeps_version_and_logs_nothing(roadmap):
    await create_item(roadmap)
    before = await change_count(roadmap)

    response = await roadmap.patch(
        "/items/RM-12", json={"title": "SSO with Okta", "vision_tags": ["enterprise-security"]}
    )

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert await change_count(roadmap) == before


async def test_repeating_a_patch_gives_the_state_of_one(roadmap):
    await create_item(roadmap)
    patch = {"planned_end": "2027-06-01"}

    first = await roadmap.patch("/items/RM-12", json=patch)
    second = await roadmap.patch("/items/RM-12", json=patch)

    assert first.json() == second.json()
    assert second.json()["version"] == 2


async def test_null_clears_a_nullable_field_but_not_a_required_one(roadmap):
    await create_item(roadmap)

    cleared = await roadmap.patch("/items/RM-12", json={"planned_end": None, "area": None})
    refused = await roadmap.patch("/items/RM-12", json={"title": None})

    assert cleared.status_code == 200
    assert (cleared.json()["planned_end"], cleared.json()["area"]) == (None, None)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.title"


async def test_patch_is_checked_against_the_merged_dates(roadmap):
    await create_item(roadmap)

    response = await roadmap.patch("/items/RM-12", json={"planned_start": "2027-04-01"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.planned_start"
    assert (await roadmap.get("/items/RM-12")).json()["version"] == 1


async def test_patch_replaces_tags_and_refuses_unknown_ones(roadmap):
    await create_item(roadmap)

    replaced = await roadmap.patch("/items/RM-12", json={"vision_tags": ["on-prem"]})
    refused = await roadmap.patch("/items/RM-12", json={"vision_tags": ["nope"]})

    assert replaced.json()["vision_tags"] == ["on-prem"]
    assert refused.status_code == 422
    assert (await roadmap.get("/items/RM-12")).json()["vision_tags"] == ["on-prem"]


async def test_concurrent_patches_all_apply_one_after_another(roadmap):
    await create_item(roadmap)
    dates = [f"2027-04-{day:02d}" for day in range(1, 21)]

    responses = await asyncio.gather(
        *(roadmap.patch("/items/RM-12", json={"planned_end": date}) for date in dates)
    )

    assert all(response.status_code == 200 for response in responses)
    final = (await roadmap.get("/items/RM-12")).json()
    assert final["version"] == 1 + len(dates)
    log = (await roadmap.get("/changes", params={"limit": 1000})).json()["changes"]
    versions = [(c["old_version"], c["new_version"]) for c in log if c["key"] == "RM-12"]
    assert versions == [(None, 1)] + [(v, v + 1) for v in range(1, len(dates) + 1)]
    assert [change["id"] for change in log] == list(range(1, len(log) + 1))


async def test_delete_removes_the_item_and_honours_if_match(roadmap):
    await create_item(roadmap)

    stale = await roadmap.delete("/items/RM-12", headers={"If-Match": '"7"'})
    deleted = await roadmap.delete("/items/RM-12", headers={"If-Match": '"1"'})
    again = await roadmap.delete("/items/RM-12")

    assert stale.status_code == 412
    assert deleted.status_code == 204
    assert again.status_code == 404
    assert (await roadmap.get("/items/RM-12")).status_code == 404


async def test_recreated_key_never_reuses_a_version(roadmap):
    await create_item(roadmap)
    await roadmap.patch("/items/RM-12", json={"confidence": "high"})
    await roadmap.delete("/items/RM-12")

    response = await roadmap.post("/items", json=item_body())

    assert response.status_code == 201
    assert response.json()["version"] == 3
    assert response.headers["etag"] == '"3"'


async def test_list_walks_every_item_once_in_key_order(roadmap):
    keys = [f"RM-{n}" for n in range(1, 8)]
    for key in keys:
        await create_item(roadmap, key)
    seen, cursor = [], None

    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await roadmap.get("/items", params=params)).json()
        seen += [item["key"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(keys)


async def test_list_filters_by_status_tag_area_owner_and_change_time(roadmap):
    await create_item(roadmap, "RM-1", status="shipped", area="billing")
    await create_item(roadmap, "RM-2", status="planned", vision_tags=["on-prem"])
    await create_item(roadmap, "RM-3", status="declined", owner="other@example.com")
    changed = (await roadmap.patch("/items/RM-3", json={"confidence": "low"})).json()

    async def keys(**params: object) -> list[str]:
        response = await roadmap.get("/items", params=params)
        assert response.status_code == 200, response.text
        return [item["key"] for item in response.json()["items"]]

    assert await keys(status=["shipped", "declined"]) == ["RM-1", "RM-3"]
    assert await keys(tag="on-prem") == ["RM-2"]
    assert await keys(area="billing") == ["RM-1"]
    assert await keys(owner="other@example.com") == ["RM-3"]
    assert await keys(changed_since=changed["updated_at"]) == ["RM-3"]


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "%%%"},
        {"limit": 0},
        {"limit": 201},
        {"status": "nope"},
        {"changed_since": "2026-01-01T00:00:00"},
    ],
)
async def test_bad_list_parameters_are_422(roadmap, params):
    response = await roadmap.get("/items", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_batch_read_answers_found_items_and_the_missing_keys(roadmap):
    await create_item(roadmap, "RM-1")
    await create_item(roadmap, "RM-2")

    response = await roadmap.post("/items/batch", json={"keys": ["RM-2", "RM-9", "RM-1", "RM-2"]})

    assert response.status_code == 200
    body = response.json()
    assert [item["key"] for item in body["items"]] == ["RM-1", "RM-2"]
    assert body["missing"] == ["RM-9"]


async def test_batch_read_is_bounded(roadmap):
    response = await roadmap.post("/items/batch", json={"keys": [f"RM-{n}" for n in range(1, 502)]})

    assert response.status_code == 422


async def test_a_number_is_not_a_date(roadmap):
    response = await roadmap.post("/items", json=item_body(planned_start=0))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.planned_start"


async def test_two_writers_with_the_same_if_match_one_wins_one_gets_412(roadmap):
    await create_item(roadmap)

    responses = await asyncio.gather(
        roadmap.patch("/items/RM-12", json={"status": "shipped"}, headers={"If-Match": '"1"'}),
        roadmap.patch("/items/RM-12", json={"status": "declined"}, headers={"If-Match": '"1"'}),
    )

    assert sorted(response.status_code for response in responses) == [200, 412]
    winner = next(response for response in responses if response.status_code == 200)
    assert (await roadmap.get("/items/RM-12")).json() == winner.json()
