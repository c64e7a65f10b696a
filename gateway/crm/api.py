"""Calling a CRM's REST API: rate limits honoured, brief faults retried, the rest reported.

A CRM answers 429 when an app goes over its rate limit, saying when to come back
(`Retry-After`, in seconds); 5xx, timeouts and refused connections are faults that often
pass. Within one call a short wait is taken here (a few tries, at most `MAX_WAIT_SECONDS`
each); anything longer is raised as `CrmUnavailable` with the wait the CRM asked for, so
the caller's work stays stored and is tried again later rather than holding a worker.
"""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from kit.backoff import backoff_seconds

logger = logging.getLogger("gateway.crm")
TRIES = 3
MAX_WAIT_SECONDS = 5.0


class CrmUnavailable(Exception):
    """The CRM's API could not answer now; try again after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class CrmRefused(Exception):
    """The CRM's API refused the request itself (a 4xx other than 429): trying the same
    again will not help until someone fixes what `reason` says."""

    def __init__(self, reason: str, status_code: int) -> None:
        super().__init__(reason)
        self.status_code = status_code


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from CRMs; the backoff takes over


class CrmApi:
    """One CRM's API: a pooled client with its base URL and timeouts; `headers` (auth)
    are asked for on each call, so a refreshed token is used at once."""

    name = "CRM"

    def __init__(self, base_url: str, *, timeout: float, transport=None) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def headers(self) -> Mapping[str, str]:
        return {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The CRM's answer: 2xx, or a status in `allow`; otherwise an exception."""
        refreshed = False
        for attempt in range(1, TRIES + 1):
            try:
                response = await self.client.request(
                    method, path, json=json, params=params, headers=await self.headers()
                )
            except httpx.TimeoutException:
                problem, wait = f"{self.name} API timed out on {method} {path}", None
            except httpx.TransportError as error:
                problem, wait = f"{self.name} API unreachable ({type(error).__name__})", None
            else:
                if response.is_success or response.status_code in allow:
                    return response
                if response.status_code == 401 and not refreshed and await self.unauthorized():
                    refreshed = True
                    continue  # a fresh token: the same call again
                if response.status_code == 429:
                    problem = f"{self.name} API rate limit reached on {method} {path}"
                    wait = _retry_after(response)
                elif response.status_code >= 500:
                    problem = f"{self.name} API answered {response.status_code} on {method} {path}"
                    wait = _retry_after(response)
                else:
                    raise CrmRefused(
                        f"{self.name} API refused {method} {path} with "
                        f"{response.status_code}: {response.text[:300]}",
                        response.status_code,
                    )
            pause = wait if wait is not None else backoff_seconds(attempt, MAX_WAIT_SECONDS, 0.2)
            if attempt == TRIES or pause > MAX_WAIT_SECONDS:
                raise CrmUnavailable(problem, wait)
            logger.info("crm api retry", extra={"crm": self.name, "reason": problem})
            await asyncio.sleep(pause)
        raise CrmRefused(f"{self.name} API refused the credentials, fresh ones too", 401)

    async def unauthorized(self) -> bool:
        """A 401: True when new credentials were got and the call is worth repeating."""
        return False
