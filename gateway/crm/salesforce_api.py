"""Salesforce's REST API, reached with the OAuth 2.0 client credentials flow.

The admin makes a connected app (or an External Client App) with the client credentials
flow on and a run-as user; Dealgate asks
`POST {instance}/services/oauth2/token` (`grant_type=client_credentials`, `client_id`,
`client_secret`) for an access token, keeps it, and asks again when a call answers 401.
With it Dealgate runs SOQL queries (`GET /services/data/vXX.X/query?q=…`, following
`nextRecordsUrl`) and updates records (`PATCH /services/data/vXX.X/sobjects/{type}/{id}`,
204).
"""

import asyncio
from typing import Any

from gateway.crm.api import CrmApi, CrmRefused

API_VERSION = "v60.0"
SALESFORCE_ID = r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$"


def soql_string(value: str) -> str:
    """A SOQL string literal (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforceApi(CrmApi):
    name = "Salesforce"

    def __init__(
        self,
        instance_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float,
        transport=None,
    ) -> None:
        super().__init__(instance_url, timeout=timeout, transport=transport)
        self.client_id, self.client_secret = client_id, client_secret
        self._token: str | None = None
        self._token_lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        if self._token is None:
            await self._new_token()
        return {"Authorization": f"Bearer {self._token}"}

    async def unauthorized(self) -> bool:
        self._token = None
        await self._new_token()
        return True

    async def _new_token(self) -> None:
        async with self._token_lock:
            if self._token is not None:
                return
            response = await self.client.post(
                "/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            if response.status_code != 200:
                raise CrmRefused(
                    "Salesforce refused the client credentials (DEALGATE_SALESFORCE_CLIENT_ID, "
                    f"DEALGATE_SALESFORCE_CLIENT_SECRET): {response.status_code} "
                    f"{response.text[:200]}",
                    response.status_code,
                )
            self._token = response.json()["access_token"]

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record the query finds, page after page."""
        response = await self.call("GET", f"/services/data/{API_VERSION}/query", params={"q": soql})
        page = response.json()
        records = list(page.get("records", []))
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = (await self.call("GET", page["nextRecordsUrl"])).json()
            records += page.get("records", [])
        return records

    async def update(self, object_type: str, record_id: str, fields: dict[str, Any]) -> bool:
        """False when Salesforce no longer has the record."""
        response = await self.call(
            "PATCH",
            f"/services/data/{API_VERSION}/sobjects/{object_type}/{record_id}",
            json=fields,
            allow=(404,),
        )
        return response.status_code != 404
