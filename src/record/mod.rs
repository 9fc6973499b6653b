//! Recording runs: the service that the CLI (`ingest`, `ingest-event`) and
//! the demo generator call. It writes artifacts with the
//! [`AttemptWriter`](crate::artifacts::writer::AttemptWriter) and then
//! records the phase in the run index.
