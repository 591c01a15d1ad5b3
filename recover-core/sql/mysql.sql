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
-- The journal's seqs: each is a ticket, drawn by inserting a row here (AUTO_INCREMENT: unique,
-- and no row shared by unrelated writers). A row is the reservation of its seq for a change of
-- its entity until the change's entry is written; old rows are trimmed.
CREATE TABLE IF NOT EXISTS recover_tickets (
    seq        BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    entity     VARCHAR(255) NOT NULL,
    entity_key VARCHAR(500) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One row per entity that recover locked while its row might be absent (insert, undo, redo,
-- restore): a written row, so that it is the entity's lock on a multi-primary cluster too.
CREATE TABLE IF NOT EXISTS recover_heads (
    entity     VARCHAR(255) NOT NULL,
    entity_key VARCHAR(500) NOT NULL,
    claims     BIGINT       NOT NULL,  -- how many calls locked the entity here
    PRIMARY KEY (entity, entity_key)
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
-- A mark per transaction recover begins: written first and removed last, so that a transaction
-- a Galera node rolled back without telling (a brute-force abort) is seen to be gone.
CREATE TABLE IF NOT EXISTS recover_marks (
    id BIGINT NOT NULL PRIMARY KEY
) ENGINE=InnoDB;
