//! Parquet parts decoded in a process of their own (`dagtrail
//! decode-part`), under a memory limit (`RLIMIT_DATA`) and a CPU-time
//! limit, handing their rows back as an Arrow IPC stream that the server
//! reads within its own bounds ([`super::ArrowStreamBatches`]).
//!
//! Why a process: a Parquet file's footer bounds little of what decoding
//! it takes. A page header may declare any size (the reader allocates it),
//! gzip and brotli pages decompress past what they declare, a dictionary
//! value is copied once per row that shows it, and a repeated column may
//! put a whole column chunk in one row; the `parquet` crate has no hook to
//! check any of these before it allocates. Checking each in the server
//! would mean parsing Parquet's pages ourselves; a process whose memory
//! the kernel caps bounds every one of them, and any fault of the decoder
//! found later, at the cost of a process start (a few milliseconds) and
//! one more copy of the rows per part.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};

use super::limits::{IngestLimits, Limit, OverLimit};
use super::{ArrowStreamBatches, IngestError, InputBatch, Place};

/// CPU seconds a decoder may use: past it the kernel stops it (a part
/// that decodes for longer is refused).
pub const DECODER_CPU_SECS: u64 = 300;

/// Memory a decoder is given beyond its budget for each column of the
/// file: a page and a dictionary of 1 MiB each, most writers' defaults.
pub const PER_COLUMN: u64 = 2 * 1024 * 1024;

/// The process's data segment now (`VmData` of `/proc/self/status`, what
/// `RLIMIT_DATA` counts), 0 where it cannot be read.
fn data_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let kib = line.strip_prefix("VmData:")?.trim().strip_suffix("kB")?;
                kib.trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kib| kib.saturating_mul(1024))
}

/// How a decoder reports why it refused a file, as one JSON line on its
/// standard error.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Refusal {
    /// The limit gone past, if that is the fault.
    over: Option<OverLimit>,
    /// The 1-based row, when known.
    row: Option<u64>,
    /// What is wrong (for a fault that is not a limit).
    reason: String,
}

/// The decoder's side (`dagtrail decode-part`): limits itself, reads the
/// Parquet file on `input` (a file, so that its footer can be read first)
/// and writes its rows to `output` as an Arrow IPC stream of batches of at
/// most [`limits::BATCH_BYTES`].
///
/// # Errors
///
/// Written to `errors` as one JSON line, and returned as the process's
/// failure: a file that is not Parquet or goes past a limit.
pub fn decode_parquet(
    input: File,
    output: impl Write,
    errors: &mut impl Write,
    limits: &IngestLimits,
) -> Result<(), IngestError> {
    let limit_error = |what: &str| {
        let what = what.to_owned();
        move |source| IngestError::Io { file: what, source }
    };
    // Set before reading anything, on top of what the process holds
    // already (its runtime, its program): past it, an allocation fails
    // and the process ends (Rust aborts on a failed allocation). The hard
    // limit leaves room for the columns a footer may turn out to have.
    let base = data_bytes().saturating_add(limits.decoder_memory);
    let most = base.saturating_add(PER_COLUMN.saturating_mul(limits.max_columns as u64));
    rlimit::setrlimit(rlimit::Resource::DATA, base, most)
        .map_err(limit_error("the decoder's memory limit"))?;
    rlimit::setrlimit(rlimit::Resource::CPU, DECODER_CPU_SECS, DECODER_CPU_SECS)
        .map_err(limit_error("the decoder's time limit"))?;
    // A decoder stopped at its limit leaves no core of a tenant's data.
    rlimit::setrlimit(rlimit::Resource::CORE, 0, 0)
        .map_err(limit_error("the decoder's core limit"))?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        write_stream(input, output, limits, |leaves| {
            // A reader holds a page and a dictionary of each column (1 MiB
            // each by most writers' defaults): a wide file gets room for
            // them, within the hard limit.
            let soft = base.saturating_add(PER_COLUMN.saturating_mul(leaves as u64));
            let _ = rlimit::setrlimit(rlimit::Resource::DATA, soft.min(most), most);
        })
    }))
    .unwrap_or_else(|_| {
        Err(IngestError::BadFile {
            file: "the part".into(),
            reason: "the file could not be decoded (the reader failed on it)".into(),
        })
    });
    if let Err(e) = &result {
        let refusal = match e {
            IngestError::OverLimit { over, at, .. } => Refusal {
                over: Some(over.clone()),
                row: row_of(*at),
                reason: over.to_string(),
            },
            IngestError::BadFile { reason, .. } => Refusal {
                over: None,
                row: None,
                reason: reason.clone(),
            },
            other => Refusal {
                over: None,
                row: None,
                reason: other.to_string(),
            },
        };
        let _ = serde_json::to_writer(&mut *errors, &refusal);
        let _ = errors.write_all(b"\n");
    }
    result
}

fn row_of(at: Option<Place>) -> Option<u64> {
    match at {
        Some(Place::Row(row)) => Some(row),
        _ => None,
    }
}

fn write_stream<W: Write>(
    input: File,
    output: W,
    limits: &IngestLimits,
    columns_known: impl FnOnce(usize),
) -> Result<(), IngestError> {
    let name = String::from("the part");
    let batches = super::open_parquet(name.clone(), input, limits)?;
    let schema = std::sync::Arc::clone(batches.schema());
    columns_known(
        schema
            .fields()
            .iter()
            .map(|f| super::limits::leaves(f.data_type()))
            .sum(),
    );
    let write_error = |e: arrow_schema::ArrowError| IngestError::Io {
        file: name.clone(),
        source: std::io::Error::other(e),
    };
    let mut output = Some(output);
    let mut writer = None;
    let mut decoded = 0u64;
    for batch in batches {
        for piece in super::bounded(&name, limits, batch?, &mut decoded)? {
            let writer = match &mut writer {
                Some(writer) => writer,
                None => {
                    let Some(output) = output.take() else {
                        continue;
                    };
                    writer.insert(
                        arrow_ipc::writer::StreamWriter::try_new(
                            BufWriter::new(output),
                            &piece.batch.schema(),
                        )
                        .map_err(write_error)?,
                    )
                }
            };
            writer.write(&piece.batch).map_err(write_error)?;
        }
    }
    let mut writer = match (writer, output.take()) {
        (Some(writer), _) => writer,
        // No rows: the schema alone, so that the server says so.
        (None, Some(output)) => {
            arrow_ipc::writer::StreamWriter::try_new(BufWriter::new(output), &schema)
                .map_err(write_error)?
        }
        (None, None) => return Ok(()),
    };
    writer.finish().map_err(write_error)
}

/// A decoder process and the batches it hands back.
pub struct DecodedParquet {
    name: String,
    child: Child,
    stream: Option<ArrowStreamBatches<BufReader<ChildStdout>>>,
    stderr: Option<ChildStderr>,
    memory: u64,
    done: bool,
}

/// Starts `decoder` (this program) on the spooled part `file` and reads
/// the stream it writes.
///
/// # Errors
///
/// [`IngestError::Io`] when the process cannot start; the decoder's own
/// refusal when it ends before its stream's schema.
pub fn spawn(
    decoder: &std::path::Path,
    name: String,
    file: File,
    limits: &IngestLimits,
) -> Result<DecodedParquet, IngestError> {
    let io = |source| IngestError::Io {
        file: name.clone(),
        source,
    };
    let settings = serde_json::to_string(limits).map_err(|e| io(std::io::Error::other(e)))?;
    let mut child = Command::new(decoder)
        .arg("decode-part")
        .arg("--limits")
        .arg(settings)
        .env_clear()
        .stdin(Stdio::from(file))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut decoded = DecodedParquet {
        name: name.clone(),
        child,
        stream: None,
        stderr,
        memory: limits.decoder_memory,
        done: false,
    };
    let Some(stdout) = stdout else {
        return Err(decoded.failed(None));
    };
    match ArrowStreamBatches::new(name, BufReader::new(stdout), limits) {
        Ok(stream) => {
            decoded.stream = Some(stream);
            Ok(decoded)
        }
        Err(e) => Err(decoded.failed(Some(e))),
    }
}

impl DecodedParquet {
    /// Why the decoder failed, once it has ended: its refusal, or a limit
    /// the kernel enforced; else `seen` (what reading its stream found).
    fn failed(&mut self, seen: Option<IngestError>) -> IngestError {
        self.done = true;
        // This side stops reading: a decoder still writing would block on
        // its full pipe for ever (and this thread waiting for it).
        self.stream = None;
        if seen.is_some() {
            let _ = self.child.kill();
        }
        let mut said = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = (&mut stderr).take(64 * 1024).read_to_string(&mut said);
        }
        let status = self.child.wait();
        let name = self.name.clone();
        // A decoder that could not write because this side stopped
        // reading refused nothing: what this side found is the answer.
        let refusal = said
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Refusal>(line).ok())
            .filter(|r| r.over.is_some() || seen.is_none() || !r.reason.contains("Broken pipe"));
        if let Some(refusal) = refusal {
            let at = refusal.row.map(Place::Row);
            return match refusal.over {
                Some(over) => IngestError::OverLimit {
                    file: name,
                    at,
                    over,
                },
                None => IngestError::BadFile {
                    file: name,
                    reason: refusal.reason,
                },
            };
        }
        let signal = status.as_ref().ok().and_then(|s| {
            use std::os::unix::process::ExitStatusExt as _;
            s.signal()
        });
        if said.contains("memory allocation of") || signal == Some(9) {
            return IngestError::OverLimit {
                file: name,
                at: None,
                over: OverLimit::new(
                    Limit::DecoderMemory,
                    self.memory,
                    "decoding the file needs more memory",
                ),
            };
        }
        // SIGXCPU: past the CPU seconds.
        if signal == Some(24) {
            return IngestError::BadFile {
                file: name,
                reason: format!(
                    "decoding the file takes more than {DECODER_CPU_SECS} s of CPU: send it in smaller parts"
                ),
            };
        }
        if let Some(seen) = seen {
            return seen;
        }
        tracing::warn!(status = ?status, stderr = %said.trim(), "a Parquet decoder failed");
        IngestError::BadFile {
            file: name,
            reason: "the file could not be decoded (the reader failed on it)".into(),
        }
    }
}

impl Iterator for DecodedParquet {
    type Item = Result<InputBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.stream.as_mut()?.next();
        match next {
            Some(Ok(batch)) => Some(Ok(batch)),
            Some(Err(e)) => Some(Err(self.failed(Some(e)))),
            None => match self.child.wait() {
                Ok(status) if status.success() => {
                    self.done = true;
                    None
                }
                _ => Some(Err(self.failed(None))),
            },
        }
    }
}

impl Drop for DecodedParquet {
    fn drop(&mut self) {
        // A request that ends early (refused, or its client gone) stops
        // its decoder.
        if !self.done {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
