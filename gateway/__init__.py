"""The gateway: the public /v1 API, auth, webhooks, evaluation, sign-off, the closing gate."""
