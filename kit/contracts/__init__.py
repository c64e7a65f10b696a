"""The wire shapes the apps exchange: each service's API models, shared with the gateway
that calls it, so caller and callee read the same contract. Pure pydantic; no app here."""
