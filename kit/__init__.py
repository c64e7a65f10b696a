"""Shared plumbing for the Dealgate apps: settings, database, problems, auth, health.

`kit` imports no app; every app imports what it needs from here.
"""
