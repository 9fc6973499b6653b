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
