"""The validator's PostgreSQL schema: its tables, its outbox and its record of the events it processed."""

SCHEMA = "validator"
