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
-- (Every index of etl.logs is built by the migration's code, concurrently:
-- runindex::postgres::LOGS_INDEXES.)
-- The schema version this file brings the database to (runindex::SCHEMA_VERSION);
-- servers read it first and run this file only when the database is behind.
CREATE TABLE IF NOT EXISTS etl.dagtrail_schema (version integer PRIMARY KEY);
-- Version 2: the fleet view (runindex::fleet). A DAG's catalog entry and
-- what the run index keeps about it, written with every phase recorded.
CREATE TABLE IF NOT EXISTS etl.dags (
    id_company          text        NOT NULL,
    dag_id              uuid        NOT NULL,
    name                text,
    description         text,
    tags                text[]      NOT NULL DEFAULT '{}',
    owner               text,
    first_seen          timestamptz,
    last_seen           timestamptz,
    runs                bigint      NOT NULL DEFAULT 0,
    last_date           date,
    last_created_at     timestamptz,
    last_run_id         text,
    last_status         text,
    failure_date        date,
    failure_created_at  timestamptz,
    failure_run_id      text,
    failure_phase       text,
    failure_message     text,
    PRIMARY KEY (id_company, dag_id)
);
-- Runs and failed runs per DAG and run date: the window counts of
-- GET /api/v1/dags and the calendar.
CREATE TABLE IF NOT EXISTS etl.dag_days (
    id_company   text   NOT NULL,
    dag_id       uuid   NOT NULL,
    date         date   NOT NULL,
    runs         bigint NOT NULL DEFAULT 0,
    failed_runs  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (id_company, dag_id, date)
);
-- Version 3. Each run's duration in milliseconds (runindex::run_duration_ms,
-- from its phases' times; NULL until known), for sort=-duration; another
-- tool may leave it NULL (`dagtrail migrate --rebuild-fleet` fills it).
ALTER TABLE etl.logs ADD COLUMN IF NOT EXISTS duration_ms bigint;
-- Keys dagtrail makes for itself: 'cursor' signs the run searches' cursors,
-- shared by every server of this database.
CREATE TABLE IF NOT EXISTS etl.dagtrail_keys (
    name  text  PRIMARY KEY,
    key   bytea NOT NULL
);
-- Version 4: the text index. Each phase's JSON text in a column of its own,
-- set by a trigger from `log` on every insert and update by any writer, and
-- a trigram index on each: a keyword's candidates are rechecked against
-- that column alone (a few KB), not by reading and rendering all of `log`.
ALTER TABLE etl.logs
    ADD COLUMN IF NOT EXISTS event_text text,
    ADD COLUMN IF NOT EXISTS extract_text text,
    ADD COLUMN IF NOT EXISTS transform_text text,
    ADD COLUMN IF NOT EXISTS load_text text;
CREATE OR REPLACE FUNCTION etl.dagtrail_phase_texts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.event_text := (NEW.log -> 'event')::text;
    NEW.extract_text := (NEW.log -> 'extract')::text;
    NEW.transform_text := (NEW.log -> 'transform')::text;
    NEW.load_text := (NEW.log -> 'load')::text;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS logs_phase_texts ON etl.logs;
CREATE TRIGGER logs_phase_texts BEFORE INSERT OR UPDATE OF log ON etl.logs
    FOR EACH ROW EXECUTE FUNCTION etl.dagtrail_phase_texts();
-- (The migration's code then fills the columns in batches and builds their
-- indexes, logs_<phase>_text_trgm, replacing version 1-3's trigram indexes
-- on `(log->'<phase>')::text`.)
-- The fleet view's window (GET /dags?since=) reads a company's recent days,
-- not all of its days.
CREATE INDEX IF NOT EXISTS dag_days_recent ON etl.dag_days (id_company, date, dag_id);
