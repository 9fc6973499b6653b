//! Endpoint 3: a run's event files (`queue_data.parquet`, `event.parquet`,
//! contract 3 and 4.2), read whole: they hold a few rows.

use std::sync::Arc;

use futures::future::try_join;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;

use super::error::{Missing, ReadError};
use super::page::ParquetPage;
use crate::artifacts::file::{StoreQuirks, decode_small_file, load_metadata_and_small_file};
use crate::artifacts::key::{EventFile, RunFolder};
use crate::artifacts::rows::{file_rows, read_ranges};

/// Most rows of an event file returned (events are a few rows).
pub const EVENT_ROW_CAP: u32 = 1000;

/// Both event files of a run (contract 4.2, endpoint 3).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPages {
    /// `queue_data.parquet`, when present.
    pub queue_data: Option<ParquetPage>,
    /// `event.parquet`, when present.
    pub event: Option<ParquetPage>,
}

/// Both event files of the run in `folder`, read concurrently.
///
/// # Errors
///
/// [`ReadError::NotFound`] ([`Missing::Event`]) when neither file exists;
/// a store or decoding error reading either.
pub(super) async fn event_pages(
    store: &Arc<dyn ObjectStore>,
    quirks: &StoreQuirks,
    folder: &RunFolder,
) -> Result<EventPages, ReadError> {
    let read = |file: EventFile| {
        let key = folder.event_file(file);
        async move {
            match whole_file(store, &key?, EVENT_ROW_CAP, quirks).await {
                Ok(page) => Ok(Some(page)),
                Err(ReadError::MissingFile { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }
    };
    let (queue_data, event) = try_join(read(EventFile::QueueData), read(EventFile::Event)).await?;
    if queue_data.is_none() && event.is_none() {
        return Err(ReadError::NotFound(Missing::Event));
    }
    Ok(EventPages { queue_data, event })
}

/// The first `cap` rows of a small file as one page: from the footer's
/// prefetch when it held the whole file (no second request), else read.
async fn whole_file(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    cap: u32,
    quirks: &StoreQuirks,
) -> Result<ParquetPage, ReadError> {
    let (meta, whole) = load_metadata_and_small_file(store, key, quirks).await?;
    let total = file_rows(&meta);
    let batches = match whole {
        Some(bytes) => decode_small_file(key, bytes, &meta, cap as usize)?,
        None => {
            read_ranges(
                store,
                key,
                &meta,
                std::slice::from_ref(&(0..total.min(u64::from(cap)))),
                ProjectionMask::all(),
            )
            .await?
        }
    };
    Ok(ParquetPage::new(
        Some(meta.schema()),
        &batches,
        0,
        cap,
        total,
    ))
}
