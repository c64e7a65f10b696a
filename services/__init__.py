"""The internal services; each owns its database and answers only the service token."""
