"""Database engine, table definitions and migrations."""
