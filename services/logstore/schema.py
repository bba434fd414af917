"""The logstore's PostgreSQL schema: its tables and its record of the events it processed."""

SCHEMA = "logstore"
