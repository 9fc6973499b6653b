-- The embedded default's run index (contract section 2). Idempotent.
CREATE TABLE IF NOT EXISTS etl_logs (
    id_company  TEXT NOT NULL,
    dag_id      TEXT NOT NULL,
    date        TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    log         TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (id_company, dag_id, date, run_id)
);
CREATE INDEX IF NOT EXISTS etl_logs_newest_first ON etl_logs (id_company, dag_id, date DESC, created_at DESC, run_id DESC);
-- The schema version this file brings the database to (runindex::SCHEMA_VERSION).
CREATE TABLE IF NOT EXISTS dagtrail_schema (version INTEGER PRIMARY KEY);
-- Version 2: the fleet view (runindex::fleet). Tags are a JSON array.
CREATE TABLE IF NOT EXISTS dags (
    id_company          TEXT    NOT NULL,
    dag_id              TEXT    NOT NULL,
    name                TEXT,
    description         TEXT,
    tags                TEXT    NOT NULL DEFAULT '[]',
    owner               TEXT,
    first_seen          TEXT,
    last_seen           TEXT,
    runs                INTEGER NOT NULL DEFAULT 0,
    last_date           TEXT,
    last_created_at     TEXT,
    last_run_id         TEXT,
    last_status         TEXT,
    failure_date        TEXT,
    failure_created_at  TEXT,
    failure_run_id      TEXT,
    failure_phase       TEXT,
    failure_message     TEXT,
    PRIMARY KEY (id_company, dag_id)
);
CREATE TABLE IF NOT EXISTS dag_days (
    id_company   TEXT    NOT NULL,
    dag_id       TEXT    NOT NULL,
    date         TEXT    NOT NULL,
    runs         INTEGER NOT NULL DEFAULT 0,
    failed_runs  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (id_company, dag_id, date)
);
-- Version 3 (the column duration_ms is added by the migration's code:
-- SQLite has no ADD COLUMN IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS etl_logs_company_newest_first ON etl_logs (id_company, date DESC, created_at DESC, dag_id DESC, run_id DESC);
CREATE TABLE IF NOT EXISTS dagtrail_keys (
    name  TEXT PRIMARY KEY,
    key   BLOB NOT NULL
);
-- Version 4: the text index (runindex/sqlite/text.rs): each phase's JSON
-- text, case-folded, by trigrams; rows are etl_logs.text_id (added, with
-- its unique index and the triggers, by the migration's code).
CREATE VIRTUAL TABLE IF NOT EXISTS etl_logs_text USING fts5(
    event, extract, transform, load,
    content='', contentless_delete=1, detail='column',
    tokenize='trigram case_sensitive 1'
);
-- The fleet view's window (GET /dags?since=) reads a company's recent days.
CREATE INDEX IF NOT EXISTS dag_days_recent ON dag_days (id_company, date, dag_id);
