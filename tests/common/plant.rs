//! Shared by the test binaries (included with `#[path]`): a committed
//! attempt made the way another tool would make it, around a data file.

use std::path::Path;

use dagtrail::artifacts::schemas::AttemptMetadata;

/// Makes `folder` (an attempt's folder in a local store) a committed
/// attempt whose only data file is a copy of `file`: `data_000.parquet`,
/// then a `metadata.parquet` counting its rows.
pub fn plant_data_file(folder: &Path, file: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    std::fs::copy(file, folder.join("data_000.parquet")).unwrap();
    let rows = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&std::fs::File::open(file).unwrap())
        .unwrap()
        .file_metadata()
        .num_rows();
    let metadata = AttemptMetadata {
        phase: "extract".into(),
        attempt: 1,
        success: Some(true),
        message: String::new(),
        total: rows,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        data_files: 1,
        data_file_rows: vec![rows],
        data_rows: rows,
        error_files: 0,
        log_files: 0,
        error_count: 0,
        log_count: 0,
        error_log_count: 0,
        searchable_lowercase: true,
        writer: "planted by a test".into(),
    };
    let batch = metadata.to_batch().unwrap();
    let out = std::fs::File::create(folder.join("metadata.parquet")).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(out, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}
