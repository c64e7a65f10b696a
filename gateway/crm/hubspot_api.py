"""HubSpot's CRM API, as a private app calls it (`Authorization: Bearer <access token>`).

What Dealgate reads and writes, by HubSpot's documented endpoints:
- deals, their companies and their `dealgate_commitment` records: batch reads
  (`POST /crm/v3/objects/{type}/batch/read`, up to 100 ids) and association batch reads
  (`POST /crm/v4/associations/{from}/{to}/batch/read`); an id HubSpot no longer has comes
  back under `errors` (207), never as a failure of the batch;
- a deal owner's email: `GET /crm/v3/owners/{id}`, kept for `OWNER_TTL_SECONDS`;
- the deal pipelines' stages with their `isClosed` and `probability` metadata
  (`GET /crm/v3/pipelines/deals`), kept for `PIPELINE_TTL_SECONDS` and read again at once
  when a deal names a stage not seen yet (an admin just added it);
- the gate written back: `PATCH /crm/v3/objects/deals/{id}`.
"""

import time
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.crm.api import CrmApi
from gateway.crm.hubspot import stage_of_metadata

BATCH = 100
OWNER_TTL_SECONDS = 600.0
PIPELINE_TTL_SECONDS = 300.0
# A stage not seen is read again at once, but not more often than this (a deal left in a
# stage since deleted would otherwise cost a pipelines read on every fetch).
UNSEEN_STAGE_REREAD_SECONDS = 10.0
DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "hs_lastmodifieddate",
    "hubspot_owner_id",
)
COMMITMENT_PROPERTIES = (
    "kind",
    "summary",
    "roadmap_item_key",
    "promised_by",
    "tags",
    "answer",
    "hs_lastmodifieddate",
)


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


class HubSpotApi(CrmApi):
    name = "HubSpot"

    def __init__(self, base_url: str, token: str, *, timeout: float, transport=None) -> None:
        super().__init__(base_url, timeout=timeout, transport=transport)
        self.token = token
        self._owners: dict[str, tuple[float, str | None]] = {}
        self._stages: dict[tuple[str, str], str] = {}
        self._stages_read_at: float | None = None

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def read_objects(
        self, object_type: str, ids: Iterable[str], properties: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The objects HubSpot still has, by id: their properties."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(ids))):
            response = await self.call(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/read",
                json={
                    "properties": list(properties),
                    "propertiesWithHistory": [],
                    "inputs": [{"id": object_id} for object_id in chunk],
                },
                allow=(207,),
            )
            for result in response.json().get("results", []):
                if not result.get("archived"):
                    found[str(result["id"])] = result.get("properties") or {}
        return found

    async def associations(
        self, from_type: str, to_type: str, ids: Iterable[str]
    ) -> dict[str, list[str]]:
        """Each id's associated ids of `to_type` (none for an id with no association)."""
        found: dict[str, list[str]] = {}
        for chunk in _chunks(sorted(set(ids))):
            response = await self.call(
                "POST",
                f"/crm/v4/associations/{from_type}/{to_type}/batch/read",
                json={"inputs": [{"id": object_id} for object_id in chunk]},
                allow=(207,),
            )
            for result in response.json().get("results", []):
                targets = [str(to["toObjectId"]) for to in result.get("to", [])]
                found[str(result["from"]["id"])] = sorted(set(targets))
        return found

    async def owner_email(self, owner_id: str) -> str | None:
        cached = self._owners.get(owner_id)
        if cached is not None and time.monotonic() - cached[0] < OWNER_TTL_SECONDS:
            return cached[1]
        response = await self.call("GET", f"/crm/v3/owners/{owner_id}", allow=(404,))
        email = response.json().get("email") if response.status_code == 200 else None
        self._owners[owner_id] = (time.monotonic(), email or None)
        return email or None

    async def stage(self, pipeline: str, stage: str) -> str | None:
        """The stage as Dealgate names it (open, closed_won, closed_lost), or None for one
        the deal pipelines do not have."""
        age = (
            float("inf")
            if self._stages_read_at is None
            else time.monotonic() - self._stages_read_at
        )
        unseen = (pipeline, stage) not in self._stages and age > UNSEEN_STAGE_REREAD_SECONDS
        if age > PIPELINE_TTL_SECONDS or unseen:
            await self._read_pipelines()
        return self._stages.get((pipeline, stage))

    async def _read_pipelines(self) -> None:
        response = await self.call("GET", "/crm/v3/pipelines/deals")
        stages = {}
        for pipeline in response.json().get("results", []):
            for stage in pipeline.get("stages", []):
                stages[(str(pipeline["id"]), str(stage["id"]))] = stage_of_metadata(
                    stage.get("metadata") or {}
                )
        self._stages, self._stages_read_at = stages, time.monotonic()

    async def update_deal(self, deal_id: str, properties: dict[str, str]) -> bool:
        """False when HubSpot no longer has the deal."""
        response = await self.call(
            "PATCH",
            f"/crm/v3/objects/deals/{deal_id}",
            json={"properties": properties},
            allow=(404,),
        )
        return response.status_code != 404
