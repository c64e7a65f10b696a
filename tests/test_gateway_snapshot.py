"""Reading the roadmap for a batch of promises: each item and the tags once, and one search
per distinct text of the unlinked features, whose matches each such promise gets."""

import asyncio

import httpx

from gateway.evaluation import Commitment
from gateway.snapshot import VisionTagCache, read_snapshots
from gateway.upstream import Upstream


def roadmap_answering(calls: list[str]) -> Upstream:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path} {request.url.params.get('q', '')}")
        if request.url.path == "/vision-tags":
            return httpx.Response(200, json={"items": []}, headers={"ETag": '"1"'})
        if request.url.path == "/items/batch":
            return httpx.Response(200, json={"items": [], "missing": ["RM-1"]})
        hit = {
            "key": "RM-7", "title": f"About {request.url.params['q']}", "status": "planned",
            "version": 1, "description": "", "confidence": "medium", "vision_tags": [],
            "owner": None, "area": None, "planned_start": None, "planned_end": None,
            "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:00:00Z",
        }  # fmt: skip
        return httpx.Response(200, json={"items": [{"item": hit, "score": 1.5}]})

    return Upstream("roadmap", "http://roadmap", "t" * 16, transport=httpx.MockTransport(answer))


async def test_promises_with_the_same_text_share_one_search():
    calls: list[str] = []
    roadmap = roadmap_answering(calls)
    promises = {
        "a": Commitment(kind="feature", summary="Audit log export"),
        "b": Commitment(kind="integration", summary="Audit log export"),
        "c": Commitment(kind="feature", summary="SSO with Okta"),
        "d": Commitment(kind="custom_work", summary="Audit log export"),  # needs no link
        "e": Commitment(kind="feature", summary="Audit log export", roadmap_item_key="RM-1"),
    }

    snapshots = await read_snapshots(roadmap, VisionTagCache(roadmap), promises)

    searches = sorted(call for call in calls if call.startswith("GET /items/search"))
    assert searches == [
        "GET /items/search Audit log export",
        "GET /items/search SSO with Okta",
    ]
    titles = {key: [m.title for m in snapshot.matches] for key, snapshot in snapshots.items()}
    assert titles == {
        "a": ["About Audit log export"],
        "b": ["About Audit log export"],
        "c": ["About SSO with Okta"],
        "d": [],
        "e": [],
    }


async def test_a_304_answers_the_kinds_it_vouched_for_not_what_a_slower_read_left():
    old = {"items": [{"slug": "on-prem", "name": "On-prem", "kind": "pillar"}]}
    new = {"items": [{"slug": "on-prem", "name": "On-prem", "kind": "non_goal"}]}
    slow_read_may_answer, slow_read_landed = asyncio.Event(), asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("If-None-Match")
        if request.headers.get("X-Test") == "slow":  # began before the tag changed kind
            await slow_read_may_answer.wait()
            return httpx.Response(200, json=with_times(old), headers={"ETag": '"1"'})
        if sent == '"2"':
            await slow_read_landed.wait()
            return httpx.Response(304, headers={"ETag": '"2"'})
        return httpx.Response(200, json=with_times(new), headers={"ETag": '"2"'})

    roadmap = Upstream("roadmap", "http://roadmap", "t" * 16, transport=httpx.MockTransport(answer))
    cache = VisionTagCache(roadmap)
    roadmap.client.headers["X-Test"] = "slow"
    slow = asyncio.create_task(cache.current())
    await asyncio.sleep(0.01)
    del roadmap.client.headers["X-Test"]
    assert await cache.current() == {"on-prem": "non_goal"}  # the cache now holds "2"

    async def revalidate_after_the_slow_read_lands() -> dict[str, str]:
        revalidating = asyncio.create_task(cache.current())  # sends "2"
        await asyncio.sleep(0.01)
        slow_read_may_answer.set()
        await slow  # the cache now holds "1", the old kinds
        slow_read_landed.set()
        return await revalidating

    assert await revalidate_after_the_slow_read_lands() == {"on-prem": "non_goal"}


def with_times(tags: dict) -> dict:
    stamp = {"description": "", "version": 1, "created_at": "2026-11-20T10:00:00Z",
             "updated_at": "2026-11-20T10:00:00Z"}  # fmt: skip
    return {"items": [{**tag, **stamp} for tag in tags["items"]]}
