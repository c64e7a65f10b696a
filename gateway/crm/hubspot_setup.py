"""`python -m gateway hubspot setup`: what Dealgate needs in a HubSpot account, made through
HubSpot's APIs with the private app's token, idempotently (what exists is left alone):

- the `dealgate_commitment` custom object (`POST /crm-object-schemas/v3/schemas`), associated
  with deals, with the properties reps fill in a form: `summary`, `kind` (dropdown),
  `roadmap_item_key`, `promised_by` (date picker), `tags` (multiple checkboxes), `answer`
  (where the rep answers a reviewer's question);
- the deal properties of the write-back (`POST /crm/v3/properties/deals`): `dealgate_ready`
  (checkbox), `dealgate_blocking_count` (number), `dealgate_url` (text).

It ends by printing what is left to click (the app's webhook subscriptions and the
pipeline rule) and the settings to give the gateway.

The private app needs the scopes `crm.schemas.custom.read`, `crm.schemas.custom.write`,
`crm.objects.custom.read`, `crm.objects.custom.write`, `crm.objects.deals.read`,
`crm.objects.deals.write`, `crm.schemas.deals.write`, `crm.objects.companies.read` and
`crm.objects.owners.read`.
"""

from collections.abc import Callable, Sequence

from gateway.crm.hubspot_api import COMMITMENT_PROPERTIES, DEAL_PROPERTIES, HubSpotApi
from kit.contracts.commitments import CommitmentKind

OBJECT_NAME = "dealgate_commitment"
MODIFIED = "hs_lastmodifieddate"
MODIFIED = "hs_lastmodifieddate"
SCHEMAS = "/crm-object-schemas/v3/schemas"
KIND_LABELS = {
    "feature": "Feature",
    "integration": "Integration",
    "custom_work": "Custom work",
    "date": "Date",
    "other": "Other",
}


def _options(values: Sequence[tuple[str, str]]) -> list[dict]:
    return [
        {"label": label, "value": value, "displayOrder": order, "hidden": False}
        for order, (value, label) in enumerate(values)
    ]


def commitment_schema(tags: Sequence[str]) -> dict:
    return {
        "name": OBJECT_NAME,
        "description": "A promise made to a customer on a deal, checked by Dealgate.",
        "labels": {"singular": "Dealgate commitment", "plural": "Dealgate commitments"},
        "primaryDisplayProperty": "summary",
        "secondaryDisplayProperties": ["kind", "promised_by"],
        "searchableProperties": ["summary", "roadmap_item_key"],
        "requiredProperties": ["summary", "kind"],
        "associatedObjects": ["DEAL"],
        "properties": [
            {"name": "summary", "label": "Summary", "type": "string", "fieldType": "text"},
            {
                "name": "kind",
                "label": "Kind",
                "type": "enumeration",
                "fieldType": "select",
                "options": _options(
                    [(kind.value, KIND_LABELS[kind.value]) for kind in CommitmentKind]
                ),
            },
            {
                "name": "roadmap_item_key",
                "label": "Roadmap item key",
                "type": "string",
                "fieldType": "text",
                "description": "The roadmap item promised, e.g. RM-12 (may be left empty).",
            },
            {"name": "promised_by", "label": "Promised by", "type": "date", "fieldType": "date"},
            {
                "name": "tags",
                "label": "Tags",
                "type": "enumeration",
                "fieldType": "checkbox",
                "options": _options([(tag, tag) for tag in tags]),
            },
            {
                "name": "answer",
                "label": "Answer to the reviewer",
                "type": "string",
                "fieldType": "textarea",
                "description": "When a reviewer asks a question in Dealgate, answer it here.",
            },
        ],
    }


WRITE_BACK_PROPERTIES = [
    {
        "name": "dealgate_ready",
        "label": "Dealgate: ready to close",
        "type": "bool",
        "fieldType": "booleancheckbox",
        "groupName": "dealinformation",
        "options": [
            {"label": "Yes", "value": "true", "displayOrder": 0},
            {"label": "No", "value": "false", "displayOrder": 1},
        ],
        "description": "Every promise on this deal is cleared or signed off (set by Dealgate).",
    },
    {
        "name": "dealgate_blocking_count",
        "label": "Dealgate: promises blocking",
        "type": "number",
        "fieldType": "number",
        "groupName": "dealinformation",
        "description": "How many promises still hold this deal back (set by Dealgate).",
    },
    {
        "name": "dealgate_url",
        "label": "Dealgate: gate",
        "type": "string",
        "fieldType": "text",
        "groupName": "dealinformation",
        "description": "Where the deal's gate is shown (set by Dealgate).",
    },
]


async def set_up(api: HubSpotApi, tags: Sequence[str], say: Callable[[str], None]) -> str:
    """Creates what is missing; answers the commitment object's type id."""
    existing = (await api.call("GET", SCHEMAS)).json().get("results", [])
    schema = next((found for found in existing if found.get("name") == OBJECT_NAME), None)
    if schema is None:
        response = await api.call("POST", SCHEMAS, json=commitment_schema(tags))
        schema = response.json()
        say(f"created the custom object {OBJECT_NAME} ({schema['objectTypeId']})")
    else:
        say(f"the custom object {OBJECT_NAME} is already there ({schema['objectTypeId']})")
    for prop in WRITE_BACK_PROPERTIES:
        response = await api.call("POST", "/crm/v3/properties/deals", json=prop, allow=(409,))
        state = "already there" if response.status_code == 409 else "created"
        say(f"deal property {prop['name']}: {state}")
    return str(schema["objectTypeId"])


def what_is_left(type_id: str, portal_hint: str, webhook_url: str) -> list[str]:
    # Every property Dealgate reads but the modification time (it changes with each of them).
    deal_properties = ", ".join(name for name in DEAL_PROPERTIES if name != MODIFIED)
    record_properties = ", ".join(name for name in COMMITMENT_PROPERTIES if name != MODIFIED)
    return [
        "",
        "Give the gateway these settings:",
        f"  DEALGATE_HUBSPOT_COMMITMENT_OBJECT={type_id}",
        f"  DEALGATE_HUBSPOT_PORTAL_ID={portal_hint}",
        "",
        "Left to click in HubSpot (Settings > Integrations > Private Apps > your app > Webhooks):",
        f"  1. Target URL: {webhook_url}",
        "  2. Subscriptions on Deal: created, deleted, association changed, and property "
        f"changed for each of: {deal_properties}",
        f"  3. Subscriptions on Dealgate commitment ({type_id}): created, deleted, association "
        f"changed, and property changed for each of: {record_properties}",
        "  4. Hold deals at the gate: in Settings > Objects > Deals > Pipelines, for each "
        "pipeline's closed-won stage, add the stage rule (or approval) that "
        "'Dealgate: ready to close' must be Yes.",
    ]
