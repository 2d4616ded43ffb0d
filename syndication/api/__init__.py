"""The HTTP API: event ingestion, article state, feed serving, ops endpoints."""
