"""The roadmap service: roadmap items, vision tags, text search and the change log."""
