-- Least-privilege roles for dagtrail on PostgreSQL (docs/DEPLOYMENT.md,
-- "Database roles"). Run it as the role that ran `dagtrail migrate` (the
-- owner of schema etl), after each `dagtrail migrate` that adds tables.
-- Idempotent. It makes two group roles without LOGIN; give each process a
-- login role in one of them, e.g.
--   CREATE ROLE dagtrail_serve LOGIN PASSWORD '...' IN ROLE dagtrail_reader;
--   CREATE ROLE dagtrail_ingest LOGIN PASSWORD '...' IN ROLE dagtrail_writer;
-- `tests/reliability/roles.rs` runs this file and serves and ingests under
-- those roles.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dagtrail_reader') THEN
    CREATE ROLE dagtrail_reader NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dagtrail_writer') THEN
    CREATE ROLE dagtrail_writer NOLOGIN;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA etl TO dagtrail_reader, dagtrail_writer;
-- `serve`: reads runs, and the schema version at start (no DDL when current).
-- etl.dagtrail_keys: the key that signs run searches' cursors (version 3).
GRANT SELECT ON etl.logs, etl.dags, etl.dag_days, etl.dagtrail_schema, etl.dagtrail_keys TO dagtrail_reader;
-- `ingest`, `ingest-event`, `demo`: read the last attempt and record phases
-- (INSERT ... ON CONFLICT DO UPDATE needs SELECT, INSERT and UPDATE).
GRANT SELECT ON etl.dagtrail_schema, etl.dagtrail_keys TO dagtrail_writer;
GRANT SELECT, INSERT, UPDATE ON etl.logs, etl.dags, etl.dag_days TO dagtrail_writer;
