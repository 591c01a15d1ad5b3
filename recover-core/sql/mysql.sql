-- recover journal tables for MySQL and MariaDB. `recover::install` runs exactly this file.
-- utf8mb4_bin: keys compare byte for byte ('Ann' and 'ann' are two entities).
CREATE TABLE IF NOT EXISTS recover_journal (
    seq          BIGINT       NOT NULL PRIMARY KEY,
    changeset_id BIGINT       NOT NULL,  -- seq of the changeset's first entry
    entity       VARCHAR(255) NOT NULL,  -- the table name
    entity_key   VARCHAR(500) NOT NULL,  -- canonical JSON of the key
    op           VARCHAR(16)  NOT NULL,  -- insert | update | delete | undo | redo | restore
    before_image LONGTEXT,               -- JSON object keyed by column name; NULL for insert
    after_image  LONGTEXT,               -- NULL for delete
    undoes       BIGINT,                 -- the seq an undo/redo reverts
    undo_next    BIGINT,                 -- the seq `undo` reverts while this entry is the newest
    redo_next    BIGINT,                 -- the seq `redo` reverts while this entry is the newest
    actor        TEXT,
    reason       TEXT,
    recorded_at  BIGINT       NOT NULL,  -- microseconds since 1970-01-01 UTC
    INDEX recover_journal_entity (entity, entity_key, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS recover_changesets (
    id          BIGINT NOT NULL PRIMARY KEY,  -- seq of the changeset's first entry
    last_seq    BIGINT NOT NULL,              -- seq of its last entry
    actor       TEXT,
    reason      TEXT,
    recorded_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS recover_redactions (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    entity      VARCHAR(255) NOT NULL,
    entity_key  VARCHAR(500) NOT NULL,
    erased_columns TEXT NOT NULL,           -- JSON array of the erased columns' names
    actor       TEXT,
    reason      TEXT,
    recorded_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One row per entity ever changed: every change writes its entity's row first, which is the
-- entity's lock (on a multi-primary cluster too) and draws the entry's seq, a fresh ticket.
-- Writers of different entities share no row.
CREATE TABLE IF NOT EXISTS recover_heads (
    ticket     BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,  -- the seq its newest change drew
    entity     VARCHAR(255) NOT NULL,
    entity_key VARCHAR(500) NOT NULL,
    UNIQUE KEY recover_heads_entity (entity, entity_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS recover_captures (
    entity      VARCHAR(255) NOT NULL PRIMARY KEY,
    model       TEXT   NOT NULL,
    generated_for TEXT   NOT NULL,
    captured_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- Capture mode: the context of a transaction, keyed by its connection (written by
-- `journal.transaction` inside its transaction and deleted before it ends).
CREATE TABLE IF NOT EXISTS recover_context (
    conn         BIGINT UNSIGNED NOT NULL PRIMARY KEY,  -- CONNECTION_ID()
    changeset_id BIGINT,
    last_seq     BIGINT,
    actor        TEXT,
    reason       TEXT,
    recorded_at  BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
