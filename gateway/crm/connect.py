"""Which CRM connectors run, from the settings: HubSpot's with its access token,
Salesforce's with its API credentials; without them the webhooks still work (HubSpot's
workflow body, Salesforce's Outbound Messages) and nothing is fetched or written back."""

from collections.abc import Mapping
from datetime import timedelta

import httpx

from gateway.crm.hubspot_api import HubSpotApi
from gateway.crm.hubspot_sync import HubSpotConnector
from gateway.crm.salesforce_api import SalesforceApi
from gateway.crm.salesforce_sync import SalesforceConnector
from gateway.crm.sync import CrmSync
from gateway.evaluator import Evaluator
from gateway.settings import GatewaySettings
from gateway.upstream import Upstream


def connect_crms(
    settings: GatewaySettings,
    commitments: Upstream,
    evaluator: Evaluator,
    transports: Mapping[str, httpx.AsyncBaseTransport],
) -> tuple[HubSpotApi | None, CrmSync]:
    """(HubSpot's API client, for the workflow webhook's lookups; the connectors' loop)."""
    skew = timedelta(seconds=settings.max_clock_skew_seconds)
    hubspot_api = None
    notified: list = []
    written: list = []
    reconciled: list = []
    apis: list = []
    if settings.hubspot_access_token:
        hubspot_api = HubSpotApi(
            str(settings.hubspot_api_url),
            settings.hubspot_access_token,
            timeout=settings.crm_api_timeout_seconds,
            transport=transports.get("hubspot"),
        )
        apis.append(hubspot_api)
        hubspot = HubSpotConnector(
            hubspot_api,
            commitments,
            evaluator,
            commitment_object=settings.hubspot_commitment_object,
            gateway_url=settings.gateway_url(),
            max_clock_skew=skew,
            max_retry_seconds=settings.crm_retry_max_seconds,
        )
        notified.append(hubspot)
        written.append(hubspot)
    if settings.salesforce_instance_url and settings.salesforce_client_id:
        assert settings.salesforce_client_secret is not None
        salesforce_api = SalesforceApi(
            str(settings.salesforce_instance_url),
            settings.salesforce_client_id,
            settings.salesforce_client_secret,
            timeout=settings.crm_api_timeout_seconds,
            transport=transports.get("salesforce"),
        )
        apis.append(salesforce_api)
        salesforce = SalesforceConnector(
            salesforce_api,
            commitments,
            evaluator,
            gateway_url=settings.gateway_url(),
            max_clock_skew=skew,
        )
        written.append(salesforce)
        if settings.salesforce_reconcile_interval_seconds > 0:
            reconciled.append((salesforce, settings.salesforce_reconcile_interval_seconds))
    sync = CrmSync(
        commitments,
        notified=notified,
        written=written,
        reconciled=reconciled,
        max_retry_seconds=settings.crm_retry_max_seconds,
        apis=apis,
    )
    return hubspot_api, sync
