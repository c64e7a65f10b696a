"""Vision tags, ranked search and the change log, on both databases."""

import pytest

from services.roadmap.demo import seed_demo_roadmap
from services.roadmap.search import fts5_any_word
from tests.roadmap_helpers import NON_GOAL, PILLAR, change_count, create_item, create_tags


async def test_tag_create_read_and_list(roadmap):
    created = await roadmap.post("/vision-tags", json=PILLAR)
    await roadmap.post("/vision-tags", json=NON_GOAL)

    assert created.status_code == 201
    assert created.headers["etag"] == '"1"'
    one = await roadmap.get("/vision-tags/enterprise-security")
    assert one.json()["kind"] == "pillar"
    listed = (await roadmap.get("/vision-tags")).json()["items"]
    assert [(tag["slug"], tag["kind"]) for tag in listed] == [
        ("enterprise-security", "pillar"),
        ("on-prem", "non_goal"),
    ]


async def test_tag_list_etag_answers_304_until_a_tag_changes(roadmap):
    await create_tags(roadmap)
    etag = (await roadmap.get("/vision-tags")).headers["etag"]

    unchanged = await roadmap.get("/vision-tags", headers={"If-None-Match": etag})
    await roadmap.patch("/vision-tags/on-prem", json={"name": "Self-hosting"})
    changed = await roadmap.get("/vision-tags", headers={"If-None-Match": etag})

    assert unchanged.status_code == 304
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_changing_a_tags_kind_is_a_logged_roadmap_change(roadmap):
    await create_tags(roadmap)

    response = await roadmap.patch("/vision-tags/on-prem", json={"kind": "pillar"})

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    last = (await roadmap.get("/changes", params={"after": 2})).json()["changes"]
    assert [
        (c["entity"], c["key"], c["fields"], c["old_version"], c["new_version"]) for c in last
    ] == [("vision_tag", "on-prem", ["kind"], 1, 2)]


async def test_tag_conflicts_and_preconditions(roadmap):
    await create_tags(roadmap)
    before = await change_count(roadmap)

    repeat = await roadmap.post("/vision-tags", json=PILLAR)
    different = await roadmap.post("/vision-tags", json={**PILLAR, "kind": "non_goal"})
    stale = await roadmap.patch(
        "/vision-tags/on-prem", json={"kind": "pillar"}, headers={"If-Match": '"9"'}
    )
    missing = await roadmap.patch("/vision-tags/nope", json={"kind": "pillar"})

    assert (repeat.status_code, different.status_code) == (200, 409)
    assert (stale.status_code, missing.status_code) == (412, 404)
    assert await change_count(roadmap) == before


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "Has Spaces", "name": "x", "kind": "pillar"},
        {"slug": "ok", "name": "x", "kind": "maybe"},
        {"slug": "ok", "name": "x"},
        {"slug": "ok", "name": "x", "kind": "pillar", "extra": 1},
    ],
)
async def test_invalid_tags_are_422(roadmap, body):
    response = await roadmap.post("/vision-tags", json=body)

    assert response.status_code == 422
    assert (await roadmap.get("/vision-tags")).json()["items"] == []


async def test_search_ranks_the_best_match_first(roadmap):
    await create_tags(roadmap)
    await create_item(
        roadmap, "RM-1", title="Audit log export", description="Stream audit events to a SIEM."
    )
    await create_item(
        roadmap, "RM-2", title="SSO with Okta and Azure AD", description="OIDC sign-on."
    )
    await create_item(roadmap, "RM-3", title="SCIM provisioning", description="Works with Okta.")

    response = await roadmap.get("/items/search", params={"q": "single sign-on (SSO) with Okta"})

    assert response.status_code == 200
    hits = response.json()["items"]
    assert [hit["item"]["key"] for hit in hits][:2] == ["RM-2", "RM-3"]
    assert "RM-1" not in [hit["item"]["key"] for hit in hits]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1]


async def test_search_finds_an_item_by_key_and_follows_edits(roadmap):
    await create_tags(roadmap)
    await create_item(roadmap, "RM-7", title="Slack notifications")
    await roadmap.patch("/items/RM-7", json={"title": "Microsoft Teams notifications"})

    by_key = (await roadmap.get("/items/search", params={"q": "RM-7"})).json()["items"]
    old_title = (await roadmap.get("/items/search", params={"q": "slack"})).json()["items"]
    new_title = (await roadmap.get("/items/search", params={"q": "teams"})).json()["items"]

    assert by_key[0]["item"]["key"] == "RM-7"
    assert old_title == []
    assert [hit["item"]["key"] for hit in new_title] == ["RM-7"]


async def test_search_forgets_deleted_items_and_tolerates_punctuation(roadmap):
    await create_tags(roadmap)
    await create_item(roadmap, "RM-7", title="Slack notifications")
    await roadmap.delete("/items/RM-7")

    gone = await roadmap.get("/items/search", params={"q": "slack"})
    punctuation = await roadmap.get("/items/search", params={"q": '"( AND * OR -'})

    assert gone.json()["items"] == []
    assert punctuation.status_code == 200


def test_fts5_query_quotes_every_word():
    assert fts5_any_word('SSO "with" Okta* OR (x)') == '"sso" OR "okta" OR "x"'
    assert fts5_any_word("--- ***") == ""


async def test_change_log_reads_in_order_after_a_cursor(roadmap):
    await create_tags(roadmap)
    await create_item(roadmap)
    await roadmap.patch("/items/RM-12", json={"planned_end": "2027-06-01", "status": "in_progress"})
    await roadmap.delete("/items/RM-12")

    page = (await roadmap.get("/changes", params={"after": 2, "limit": 2})).json()
    rest = (await roadmap.get("/changes", params={"after": page["last_id"]})).json()
    empty = (await roadmap.get("/changes", params={"after": rest["last_id"]})).json()

    assert [(c["id"], c["operation"]) for c in page["changes"]] == [(3, "created"), (4, "updated")]
    assert page["changes"][1]["fields"] == ["planned_end", "status"]
    assert [
        (c["id"], c["operation"], c["old_version"], c["new_version"]) for c in rest["changes"]
    ] == [(5, "deleted", 2, None)]
    assert empty == {"changes": [], "last_id": 5}


async def test_change_cursor_beyond_a_bigint_is_422_not_a_crash(roadmap):
    response = await roadmap.get("/changes", params={"after": 2**63})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.after"


@pytest.fixture
async def demo_roadmap(roadmap_app):
    await seed_demo_roadmap(roadmap_app.state.engine)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Hand-checked against demo.py; both databases must give exactly these.
        ("SSO with Okta", ["RM-2", "RM-1"]),  # RM-1's description says SSO; "with" is ignored
        ("single sign-on", ["RM-1", "RM-2"]),
        ("export the audit log to Splunk", ["RM-4"]),
        ("data residency EU", ["RM-12", "RM-11"]),  # RM-11: "data centre"
        ("integration", ["RM-6"]),  # stemmed: "integration" in RM-6's description
        ("RM-7", ["RM-7"]),  # by key only: the key is not text-indexed
        ("rm-7", ["RM-7"]),  # a key in any case
        ("RM-7 and HubSpot", ["RM-7", "RM-6"]),  # the named item first
        ("with the and of", []),
    ],
)
async def test_search_over_the_demo_roadmap(roadmap, demo_roadmap, query, expected):
    response = await roadmap.get("/items/search", params={"q": query})

    assert [hit["item"]["key"] for hit in response.json()["items"]] == expected


async def test_demo_seed_makes_the_demo_roadmap_once(roadmap_app, roadmap):
    created = await seed_demo_roadmap(roadmap_app.state.engine)
    again = await seed_demo_roadmap(roadmap_app.state.engine)

    tags = (await roadmap.get("/vision-tags")).json()["items"]
    items = (await roadmap.get("/items", params={"limit": 200})).json()["items"]
    assert (created, again) == (len(tags) + len(items), 0)
    assert sum(tag["kind"] == "non_goal" for tag in tags) >= 2
    assert sum(tag["kind"] == "pillar" for tag in tags) >= 3
    assert len(items) == 12
    assert {item["status"] for item in items} == {
        "idea",
        "planned",
        "in_progress",
        "shipped",
        "declined",
    }
