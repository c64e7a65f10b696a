"""SQLite's search index found by row id: deleting or changing an item no longer scans it.

The FTS5 table's triggers found an item's row by `key`, a column FTS5 cannot index: every
delete or update read the whole index (deleting 100,000 items took many minutes). Each
item's FTS5 row id is now kept in `roadmap_items_fts_rows` (an INTEGER PRIMARY KEY, so
stable across VACUUM, as FTS5's own row ids are), and the triggers go by it. PostgreSQL's
GIN index is untouched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 19:00:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROW_OF_OLD = "(SELECT fts_rowid FROM roadmap_items_fts_rows WHERE key = old.key)"
UPGRADE = [
    "CREATE TABLE roadmap_items_fts_rows ("
    "fts_rowid INTEGER PRIMARY KEY, key VARCHAR(32) NOT NULL UNIQUE)",
    "INSERT INTO roadmap_items_fts_rows (fts_rowid, key) SELECT rowid, key FROM roadmap_items_fts",
    "DROP TRIGGER roadmap_items_fts_insert",
    "DROP TRIGGER roadmap_items_fts_delete",
    "DROP TRIGGER roadmap_items_fts_update",
    "CREATE TRIGGER roadmap_items_fts_insert AFTER INSERT ON roadmap_items BEGIN "
    "INSERT INTO roadmap_items_fts_rows (key) VALUES (new.key); "
    "INSERT INTO roadmap_items_fts (rowid, key, title, description) VALUES ("
    "(SELECT fts_rowid FROM roadmap_items_fts_rows WHERE key = new.key), "
    "new.key, new.title, new.description); END",
    "CREATE TRIGGER roadmap_items_fts_delete AFTER DELETE ON roadmap_items BEGIN "
    f"DELETE FROM roadmap_items_fts WHERE rowid = {ROW_OF_OLD}; "
    "DELETE FROM roadmap_items_fts_rows WHERE key = old.key; END",
    "CREATE TRIGGER roadmap_items_fts_update AFTER UPDATE ON roadmap_items BEGIN "
    "UPDATE roadmap_items_fts SET title = new.title, description = new.description "
    f"WHERE rowid = {ROW_OF_OLD}; END",
]
# As revision 0001 made them.
DOWNGRADE = [
    "DROP TRIGGER roadmap_items_fts_insert",
    "DROP TRIGGER roadmap_items_fts_delete",
    "DROP TRIGGER roadmap_items_fts_update",
    "DROP TABLE roadmap_items_fts_rows",
    "CREATE TRIGGER roadmap_items_fts_insert AFTER INSERT ON roadmap_items BEGIN "
    "INSERT INTO roadmap_items_fts (key, title, description) "
    "VALUES (new.key, new.title, new.description); END",
    "CREATE TRIGGER roadmap_items_fts_delete AFTER DELETE ON roadmap_items BEGIN "
    "DELETE FROM roadmap_items_fts WHERE key = old.key; END",
    "CREATE TRIGGER roadmap_items_fts_update AFTER UPDATE ON roadmap_items BEGIN "
    "UPDATE roadmap_items_fts SET title = new.title, description = new.description "
    "WHERE key = old.key; END",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DOWNGRADE:
            op.execute(statement)
