-- recover journal tables for PostgreSQL. `recover::install` runs exactly this file.
CREATE SEQUENCE IF NOT EXISTS recover_journal_seq;
CREATE TABLE IF NOT EXISTS recover_journal (
    seq          BIGINT PRIMARY KEY DEFAULT nextval('recover_journal_seq'),
    changeset_id BIGINT NOT NULL,       -- seq of the changeset's first entry
    entity       TEXT   NOT NULL,       -- the table name
    entity_key   TEXT   NOT NULL,       -- canonical JSON of the key
    op           TEXT   NOT NULL,       -- insert | update | delete | undo | redo | restore
    before_image TEXT,                  -- JSON object keyed by column name; NULL for insert
    after_image  TEXT,                  -- NULL for delete
    undoes       BIGINT,                -- the seq an undo/redo reverts
    undo_next    BIGINT,                -- the seq `undo` reverts while this entry is the newest
    redo_next    BIGINT,                -- the seq `redo` reverts while this entry is the newest
    actor        TEXT,
    reason       TEXT,
    recorded_at  BIGINT NOT NULL        -- microseconds since 1970-01-01 UTC
);
CREATE INDEX IF NOT EXISTS recover_journal_entity ON recover_journal (entity, entity_key, seq);
-- The entries that removed a row (delete, undone insert, restore to absent), for `deleted`;
-- partial, so that recording an update or an insert does not touch it.
CREATE INDEX IF NOT EXISTS recover_journal_removals ON recover_journal (entity, seq) WHERE after_image IS NULL;
CREATE TABLE IF NOT EXISTS recover_changesets (
    id          BIGINT PRIMARY KEY,     -- seq of the changeset's first entry
    last_seq    BIGINT NOT NULL,        -- seq of its last entry
    actor       TEXT,
    reason      TEXT,
    recorded_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS recover_redactions (
    id          BIGSERIAL PRIMARY KEY,
    entity      TEXT   NOT NULL,
    entity_key  TEXT   NOT NULL,
    erased_columns TEXT NOT NULL,       -- JSON array of the erased columns' names
    actor       TEXT,
    reason      TEXT,
    recorded_at BIGINT NOT NULL
);
-- Capture mode: the tables whose changes triggers journal.
CREATE TABLE IF NOT EXISTS recover_captures (
    entity      TEXT PRIMARY KEY,       -- the captured table
    model       TEXT   NOT NULL,        -- the Rust type it is captured for
    generated_for TEXT   NOT NULL,        -- what its triggers were generated for
    captured_at BIGINT NOT NULL
);
