"""The CRM connections: one module per CRM, each turning what the CRM sends into the
canonical event (DESIGN.md "Shapes outside clients rely on"): `generic` (Standard Webhooks
JSON), `hubspot`, `salesforce`; `webhooks` serves their endpoints under /v1/webhooks and
hands each canonical event to the commitments service. A third CRM is one more module:
verify what it sends, normalize it, and add its route."""
