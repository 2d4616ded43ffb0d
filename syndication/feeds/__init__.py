"""Feeds: definitions (spec), item indexes (index), rendering (render) and stored bytes (store)."""
