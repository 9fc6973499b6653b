-- The run index of contract section 2, and the indexes dagtrail searches with.
-- Idempotent: safe to run against a table another tool created.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA IF NOT EXISTS etl;
CREATE TABLE IF NOT EXISTS etl.logs (
    id_company  text        NOT NULL,
    dag_id      uuid        NOT NULL,
    date        date        NOT NULL,
    run_id      text        NOT NULL,
    log         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id_company, dag_id, date, run_id)
);
-- Keyword filters are `(log->'<phase>')::text ~ '<pattern>'`: trigram GIN
-- indexes on exactly those expressions let PostgreSQL answer them without
-- reading every row of the company's date range.
CREATE INDEX IF NOT EXISTS logs_event_trgm ON etl.logs USING gin (((log->'event')::text) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS logs_extract_trgm ON etl.logs USING gin (((log->'extract')::text) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS logs_transform_trgm ON etl.logs USING gin (((log->'transform')::text) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS logs_load_trgm ON etl.logs USING gin (((log->'load')::text) gin_trgm_ops);
-- Newest-first pages within one DAG read this index in order and stop.
CREATE INDEX IF NOT EXISTS logs_newest_first ON etl.logs (id_company, dag_id, date DESC, created_at DESC, run_id DESC);
-- The schema version this file brings the database to (runindex::SCHEMA_VERSION);
-- servers read it first and run this file only when the database is behind.
CREATE TABLE IF NOT EXISTS etl.dagtrail_schema (version integer PRIMARY KEY);
