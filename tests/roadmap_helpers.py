"""Small builders the roadmap tests share."""

import httpx

PILLAR = {"slug": "enterprise-security", "name": "Enterprise security", "kind": "pillar"}
NON_GOAL = {"slug": "on-prem", "name": "On-premises", "kind": "non_goal"}


def item_body(key: str = "RM-12", **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "key": key,
        "title": "SSO with Okta",
        "description": "OIDC single sign-on for enterprise workspaces.",
        "status": "planned",
        "planned_start": "2027-01-01",
        "planned_end": "2027-03-01",
        "confidence": "medium",
        "vision_tags": ["enterprise-security"],
        "owner": "pm@example.com",
        "area": "identity",
    }
    body.update(overrides)
    return body


async def create_tags(client: httpx.AsyncClient, *tags: dict[str, str]) -> None:
    for tag in tags or (PILLAR, NON_GOAL):
        response = await client.post("/vision-tags", json=tag)
        assert response.status_code == 201, response.text


async def create_item(client: httpx.AsyncClient, key: str = "RM-12", **overrides: object) -> dict:
    response = await client.post("/items", json=item_body(key, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def change_count(client: httpx.AsyncClient) -> int:
    response = await client.get("/changes", params={"limit": 1000})
    return len(response.json()["changes"])
