//! Scanning every row group of one file as its own task: the keyword scan
//! of `index.parquet` (endpoint 5) and the log filters (endpoint 7) use
//! it, so a scan works on every core and a request holds a bounded number
//! of row groups at once.

use std::future::Future;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;

use tokio_util::task::AbortOnDropHandle;

use super::error::ReadError;

/// Row groups of one file scanned at once by one request.
pub const CONCURRENT_SCANS: usize = 4;

/// Runs `scan(group)` for each of the `groups` row groups of the file at
/// `key`, each as a spawned task, at most [`CONCURRENT_SCANS`] at a time;
/// the results come back in row-group order.
///
/// # Errors
///
/// The first error a scan returns; a scan task that panicked is a
/// [`ReadError::Decode`] naming `key`.
pub async fn scan_row_groups<T, F, Fut>(
    key: &Path,
    groups: usize,
    mut scan: F,
) -> Result<Vec<T>, ReadError>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, ReadError>> + Send + 'static,
    T: Send + 'static,
{
    futures::stream::iter(0..groups)
        .map(|group| {
            // Spawned when `buffered` polls for it, so no more than the
            // bound are running; aborted when the request's future is
            // dropped (it timed out, or the client left), so no scan runs
            // on for nobody.
            let task = AbortOnDropHandle::new(tokio::spawn(scan(group)));
            async move {
                task.await.map_err(|e| {
                    ReadError::decode(key, format!("scanning row group {group} failed: {e}"))
                })?
            }
        })
        .buffered(CONCURRENT_SCANS)
        .try_collect()
        .await
}
