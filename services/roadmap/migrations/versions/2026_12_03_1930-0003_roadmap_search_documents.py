"""PostgreSQL's search documents stored, not recomputed for every ranked match.

The GIN index was on an expression: it found the matching items, but ranking them parsed
each one's title and description again (`to_tsvector`), so a common word over 100,000 items
cost seconds. Each item's document is now kept in `roadmap_items_fts` (as SQLite keeps its
FTS5 table), in step by a trigger, indexed there, and ranked from what is stored. SQLite is
untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 19:30:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copy of revision 0001's document (services.roadmap.search ranks what it stores).
PG_DOCUMENT = (
    "setweight(to_tsvector('english', {row}title), 'A') || "
    "setweight(to_tsvector('english', {row}description), 'B')"
)
UPGRADE = [
    "CREATE TABLE roadmap_items_fts ("
    "key VARCHAR(32) PRIMARY KEY REFERENCES roadmap_items (key) ON DELETE CASCADE, "
    "document tsvector NOT NULL)",
    f"INSERT INTO roadmap_items_fts (key, document) "
    f"SELECT key, {PG_DOCUMENT.format(row='')} FROM roadmap_items",
    "CREATE INDEX roadmap_items_fts_document ON roadmap_items_fts USING gin (document)",
    "CREATE FUNCTION roadmap_items_fts_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO roadmap_items_fts (key, document) "
    f"VALUES (NEW.key, {PG_DOCUMENT.format(row='NEW.')}) "
    "ON CONFLICT (key) DO UPDATE SET document = EXCLUDED.document; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER roadmap_items_fts_keep AFTER INSERT OR UPDATE OF title, description "
    "ON roadmap_items FOR EACH ROW EXECUTE FUNCTION roadmap_items_fts_keep()",
    "DROP INDEX ix_roadmap_items_search",
]
DOWNGRADE = [
    f"CREATE INDEX ix_roadmap_items_search ON roadmap_items "
    f"USING gin (({PG_DOCUMENT.format(row='')}))",
    "DROP TRIGGER roadmap_items_fts_keep ON roadmap_items",
    "DROP FUNCTION roadmap_items_fts_keep()",
    "DROP TABLE roadmap_items_fts",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
