"""The wire shapes the apps exchange: each service's API models and route parameters,
shared with the gateway that calls and exposes it, so caller and callee read the same
contract. No app is imported here."""
