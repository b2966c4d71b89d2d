"""Authentication (JWT bearer tokens, API keys) and Cedar authorization."""
