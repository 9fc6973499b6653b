//! The memory of a real `dagtrail serve` per write request (issue 23):
//! every part format and the event, hostile inputs (what they declare far
//! beyond what they weigh) and legit ones near the limits. Whatever the
//! input, one request may raise the server's peak resident memory (VmHWM,
//! reset before each request through `clear_refs`) at most 256 MiB above
//! what it held just before, and the memory comes back near idle after it
//! (jemalloc's background threads hand freed pages back). Before, a 64 MB
//! NDJSON line of `[0,0,…]` took 3.2 GB (src/ingest/limits.rs).
//!
//! Only the server process is measured: a Parquet part is decoded in a
//! `dagtrail decode-part` child bounded by `DAGTRAIL_DECODER_MEMORY_BYTES`.
//!
//! `--nocapture` prints the figures as a table (docs/RELIABILITY.md,
//! "Memory").

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
};
use arrow_buffer::{Buffer, OffsetBuffer};
use arrow_ipc::CompressionType;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use dagtrail::model::Company;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::support::{Server, Stores};

/// How much one request may raise the peak above the memory before it.
const PEAK_BUDGET_MIB: f64 = 256.0;
/// How near the idle memory the server comes back after each request.
const SETTLED_MIB: f64 = 64.0;
/// How long it has to come back.
const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// Rows of the Parquet part whose dictionary shows one 1 MB value: 100 MB
/// decoded from about a kilobyte. (2,000 rows, 2 GB, took over three
/// minutes to commit in a debug build.)
const DICTIONARY_ROWS: usize = 100;

const DAG: &str = "0b7e6a55-2f7c-4a86-9d1f-3c2b8c9e0a11";
const NDJSON: &str = "application/x-ndjson";
const CSV: &str = "text/csv";
const PARQUET: &str = "application/vnd.apache.parquet";
const ARROW: &str = "application/vnd.apache.arrow.stream";

const ROW_BYTES: &str = "DAGTRAIL_MAX_ROW_BYTES";
const COLUMNS: &str = "DAGTRAIL_MAX_COLUMNS";
const BATCH_BYTES: &str = "DAGTRAIL_MAX_BATCH_BYTES";
const DECODED_BYTES: &str = "DAGTRAIL_MAX_PART_DECODED_BYTES";
const DECODER_MEMORY: &str = "DAGTRAIL_DECODER_MEMORY_BYTES";

/// A field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Sets the peak (VmHWM) back to the resident memory now.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap_or_else(|e| {
        panic!("resetting the peak memory of {pid} ({e}): the test needs Linux and its own processes' clear_refs")
    });
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// An answer: its status (0 when the request failed) and body.
type Answer = (u16, String);

/// What one request did to the server's memory.
struct Measured {
    case: String,
    statuses: Vec<u16>,
    before_mib: f64,
    growth_mib: f64,
    settled_mib: f64,
    settle_secs: f64,
    took_secs: f64,
}

/// Measures requests against the budget and collects every fault, so
/// that the table is printed whole before the test fails.
struct Meter<'a> {
    server: &'a Server,
    idle_kib: u64,
    measured: Vec<Measured>,
    faults: Vec<String>,
}

impl Meter<'_> {
    /// Runs `requests`: the peak it raises and where memory settles after.
    async fn measure(
        &mut self,
        case: &str,
        requests: impl Future<Output = Vec<Answer>>,
    ) -> Vec<Answer> {
        let pid = self.server.pid();
        let before = status_kib(pid, "VmRSS:");
        reset_peak(pid);
        let started = Instant::now();
        let answers = requests.await;
        let took = started.elapsed();
        let peak = status_kib(pid, "VmHWM:");
        let settling = Instant::now();
        let mut settled = status_kib(pid, "VmRSS:");
        while mib(settled.saturating_sub(self.idle_kib)) > SETTLED_MIB
            && settling.elapsed() < SETTLE_WITHIN
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
            settled = status_kib(pid, "VmRSS:");
        }
        let row = Measured {
            case: case.to_owned(),
            statuses: answers.iter().map(|(status, _)| *status).collect(),
            before_mib: mib(before),
            growth_mib: mib(peak.saturating_sub(before)),
            settled_mib: mib(settled),
            settle_secs: settling.elapsed().as_secs_f64(),
            took_secs: took.as_secs_f64(),
        };
        eprintln!(
            "{case}: {:?} in {:.1} s, peak +{:.1} MiB, settled at {:.1} MiB after {:.1} s \
             (anonymous {:.1} MiB, file {:.1} MiB)",
            row.statuses,
            row.took_secs,
            row.growth_mib,
            row.settled_mib,
            row.settle_secs,
            mib(status_kib(pid, "RssAnon:")),
            mib(status_kib(pid, "RssFile:")),
        );
        for (status, body) in &answers {
            if *status >= 400 {
                eprintln!("  {status}: {}", excerpt(body));
            }
        }
        if row.growth_mib > PEAK_BUDGET_MIB {
            self.faults.push(format!(
                "{case}: the peak grew {:.1} MiB (budget {PEAK_BUDGET_MIB} MiB)",
                row.growth_mib
            ));
        }
        if row.settled_mib - mib(self.idle_kib) > SETTLED_MIB {
            self.faults.push(format!(
                "{case}: resident memory still {:.1} MiB after {SETTLE_WITHIN:?} (idle {:.1} MiB)",
                row.settled_mib,
                mib(self.idle_kib)
            ));
        }
        self.measured.push(row);
        answers
    }

    /// Checks that `answer` has one of the `statuses`, and when it is a
    /// refusal (4xx) that its detail names one of the `settings`.
    fn expect(&mut self, case: &str, answer: &Answer, statuses: &[u16], settings: &[&str]) {
        let (status, body) = answer;
        if !statuses.contains(status) {
            self.faults.push(format!(
                "{case}: status {status}, expected one of {statuses:?}: {}",
                excerpt(body)
            ));
            return;
        }
        if (400..500).contains(status) && !settings.is_empty() {
            let detail = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if !settings.iter().any(|s| detail.contains(s)) {
                self.faults.push(format!(
                    "{case}: the detail names none of {settings:?}: {}",
                    excerpt(body)
                ));
            }
        }
    }

    /// Checks that an accepted answer counts `rows` at `field` (`rows`
    /// of a staged part, `data_rows` of a commit, `event_rows`).
    fn expect_rows(&mut self, case: &str, answer: &Answer, field: &str, rows: usize) {
        let (status, body) = answer;
        if *status != 200 {
            return;
        }
        let counted = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v[field].as_u64());
        if counted != Some(rows as u64) {
            self.faults.push(format!(
                "{case}: {field} is {counted:?}, expected {rows}: {}",
                excerpt(body)
            ));
        }
    }

    /// The figures as a Markdown table.
    fn table(&self) -> String {
        let mut table = format!(
            "idle: {:.1} MiB; budget: peak +{PEAK_BUDGET_MIB} MiB per request, settled within {SETTLED_MIB} MiB of idle\n\n\
             | case | status | before (MiB) | peak growth (MiB) | settled RSS (MiB) | took (s) | settled after (s) |\n\
             |---|---|---:|---:|---:|---:|---:|\n",
            mib(self.idle_kib)
        );
        for m in &self.measured {
            let statuses: Vec<String> = m.statuses.iter().map(u16::to_string).collect();
            let _ = writeln!(
                table,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                m.case,
                statuses.join(", "),
                m.before_mib,
                m.growth_mib,
                m.settled_mib,
                m.took_secs,
                m.settle_secs
            );
        }
        table
    }
}

/// The start of an answer's body, for a message.
fn excerpt(body: &str) -> String {
    body.chars().take(600).collect()
}

/// A writer of one company through the write API.
struct Writer<'a> {
    server: &'a Server,
    client: reqwest::Client,
    token: String,
}

impl Writer<'_> {
    fn attempt(run: &str) -> String {
        format!("/api/v1/dags/{DAG}/runs/2026-11-29/{run}/phases/extract/attempts/1")
    }

    async fn answer(reply: reqwest::Result<reqwest::Response>) -> Answer {
        match reply {
            Ok(reply) => {
                let status = reply.status().as_u16();
                (status, reply.text().await.unwrap_or_default())
            }
            Err(e) => (0, format!("{e:?}")),
        }
    }

    async fn open(&self, run: &str) {
        let reply = self
            .client
            .put(self.server.url(&Self::attempt(run)))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201, "{run}");
    }

    async fn part(&self, run: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let url = self.server.url(&format!("{}/data/1", Self::attempt(run)));
        Self::answer(
            self.client
                .put(url)
                .bearer_auth(&self.token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await,
        )
        .await
    }

    async fn commit(&self, run: &str) -> Answer {
        let url = self.server.url(&format!("{}/commit", Self::attempt(run)));
        Self::answer(
            self.client
                .post(url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await,
        )
        .await
    }

    async fn event(&self, run: &str, body: Vec<u8>) -> Answer {
        let url = self
            .server
            .url(&format!("/api/v1/dags/{DAG}/runs/2026-11-29/{run}/event"));
        Self::answer(
            self.client
                .put(url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await,
        )
        .await
    }
}

/// `{"id":i,"doc":"xxx…"}` lines, each value `doc_bytes` long.
fn ndjson_rows(rows: usize, doc_bytes: usize) -> Vec<u8> {
    let doc = "x".repeat(doc_bytes);
    let mut out = Vec::with_capacity(rows * (doc_bytes + 32));
    for i in 0..rows {
        out.extend_from_slice(format!("{{\"id\":{i},\"doc\":\"{doc}\"}}\n").as_bytes());
    }
    out
}

/// One NDJSON line `{"a":[0,0,…]}` of `bytes` bytes.
fn ndjson_zeros_line(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 16);
    out.extend_from_slice(b"{\"a\":[0");
    while out.len() + 4 < bytes {
        out.extend_from_slice(b",0");
    }
    out.extend_from_slice(b"]}\n");
    out
}

/// `rows` NDJSON objects of `columns` keys each.
fn ndjson_wide(rows: usize, columns: usize) -> Vec<u8> {
    let mut line = String::from("{");
    for c in 0..columns {
        if c > 0 {
            line.push(',');
        }
        let _ = write!(line, "\"c{c:05}\":{c}");
    }
    line.push_str("}\n");
    line.repeat(rows).into_bytes()
}

/// CSV records `id,doc` whose doc is `doc_bytes` long.
fn csv_rows(rows: usize, doc_bytes: usize) -> Vec<u8> {
    let doc = "x".repeat(doc_bytes);
    let mut out = b"id,doc\n".to_vec();
    for i in 0..rows {
        out.extend_from_slice(format!("{i},{doc}\n").as_bytes());
    }
    out
}

/// A CSV whose first record opens a quoted field and never closes it.
fn csv_unterminated(bytes: usize) -> Vec<u8> {
    let mut out = b"id,doc\n1,\"".to_vec();
    out.resize(bytes, b'x');
    out
}

fn zstd_parquet(batch: &RecordBatch, dictionary: bool) -> Vec<u8> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(dictionary)
        .set_dictionary_page_size_limit(4 << 20)
        .set_statistics_enabled(EnabledStatistics::None)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

/// One `large_string` value of `bytes` bytes, compressed to a few KB.
fn parquet_one_large_string(bytes: usize) -> Vec<u8> {
    let values = LargeStringArray::new(
        OffsetBuffer::new(vec![0i64, bytes as i64].into()),
        Buffer::from_vec(vec![b'x'; bytes]),
        None,
    );
    let batch = RecordBatch::try_from_iter([("doc", Arc::new(values) as ArrayRef)]).unwrap();
    zstd_parquet(&batch, false)
}

/// A dictionary of one value of `value_bytes` bytes, shown by `rows` rows.
fn dictionary_column(rows: usize, value_bytes: usize) -> RecordBatch {
    let values = StringArray::from(vec!["x".repeat(value_bytes)]);
    let keys = Int32Array::from(vec![0; rows]);
    let dictionary = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
    RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef,
        ),
        ("doc", Arc::new(dictionary) as ArrayRef),
    ])
    .unwrap()
}

fn arrow_stream(batch: &RecordBatch, options: IpcWriteOptions) -> Vec<u8> {
    let mut writer =
        StreamWriter::try_new_with_options(Vec::new(), &batch.schema(), options).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    writer.into_inner().unwrap()
}

/// `rows` rows of `doc_bytes`-long strings, in one batch.
fn text_column(rows: usize, doc_bytes: usize) -> RecordBatch {
    let doc = "x".repeat(doc_bytes);
    RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef,
        ),
        (
            "doc",
            Arc::new(StringArray::from_iter_values((0..rows).map(|_| &doc))) as ArrayRef,
        ),
    ])
    .unwrap()
}

/// `{"event": [{"k00000": "vvv…", …}]}` with `keys` keys.
fn event_body(keys: usize, value_bytes: usize) -> Vec<u8> {
    let value = "v".repeat(value_bytes);
    let mut object = String::from("{");
    for k in 0..keys {
        if k > 0 {
            object.push(',');
        }
        let _ = write!(object, "\"k{k:05}\":\"{value}\"");
    }
    object.push('}');
    format!("{{\"event\": [{object}]}}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_stays_within_its_memory_budget() {
    let started = Instant::now();
    // The inputs, made before the server starts.
    let (parquet_1gib, parquet_dictionary, arrow_60mb, arrow_dictionary, arrow_zstd) =
        tokio::task::spawn_blocking(|| {
            let made = Instant::now();
            let parquet_1gib = parquet_one_large_string(1 << 30);
            eprintln!(
                "a 1 GiB string in {} bytes of Parquet ({:.1} s)",
                parquet_1gib.len(),
                made.elapsed().as_secs_f64()
            );
            let made = Instant::now();
            let parquet_dictionary =
                zstd_parquet(&dictionary_column(DICTIONARY_ROWS, 1_000_000), true);
            eprintln!(
                "{DICTIONARY_ROWS} rows of one 1 MB string in {} bytes of Parquet ({:.1} s)",
                parquet_dictionary.len(),
                made.elapsed().as_secs_f64()
            );
            let made = Instant::now();
            let arrow_60mb = arrow_stream(&text_column(60, 1_000_000), IpcWriteOptions::default());
            let arrow_dictionary = arrow_stream(
                &dictionary_column(5_000, 1_000_000),
                IpcWriteOptions::default(),
            );
            let arrow_zstd = arrow_stream(
                &text_column(1, 100_000_000),
                IpcWriteOptions::default()
                    .try_with_compression(Some(CompressionType::ZSTD))
                    .unwrap(),
            );
            eprintln!(
                "Arrow streams of {}, {} and {} bytes ({:.1} s)",
                arrow_60mb.len(),
                arrow_dictionary.len(),
                arrow_zstd.len(),
                made.elapsed().as_secs_f64()
            );
            (
                parquet_1gib,
                parquet_dictionary,
                arrow_60mb,
                arrow_dictionary,
                arrow_zstd,
            )
        })
        .await
        .unwrap();
    assert!(
        parquet_1gib.len() < 100_000,
        "{} bytes of Parquet",
        parquet_1gib.len()
    );
    assert!(arrow_zstd.len() < 1_000_000, "{} bytes", arrow_zstd.len());

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&Stores::embedded(dir.path()).env());
    let company = Company::new("acme").unwrap();
    let writer = Writer {
        server: &server,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(180))
            .build()
            .unwrap(),
        token: crate::support::token_with_scopes(company.as_str(), &[dagtrail::auth::RUNS_WRITE]),
    };

    // Each format once, small, so that idle counts what a first request
    // sets up for good (pools, the code it runs).
    let small = text_column(3, 10);
    let warm: [(&str, &str, Vec<u8>); 4] = [
        ("warm-ndjson", NDJSON, ndjson_rows(3, 10)),
        ("warm-csv", CSV, csv_rows(3, 10)),
        ("warm-parquet", PARQUET, zstd_parquet(&small, true)),
        (
            "warm-arrow",
            ARROW,
            arrow_stream(&small, IpcWriteOptions::default()),
        ),
    ];
    for (run, content_type, body) in warm {
        writer.open(run).await;
        assert_eq!(writer.part(run, content_type, body).await.0, 200, "{run}");
        assert_eq!(writer.commit(run).await.0, 200, "{run}");
    }
    assert_eq!(writer.event("warm-event", event_body(3, 10)).await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut meter = Meter {
        server: &server,
        idle_kib: server.rss_kib(),
        measured: Vec::new(),
        faults: Vec::new(),
    };
    eprintln!(
        "idle: {:.1} MiB (anonymous {:.1} MiB, file {:.1} MiB)",
        mib(meter.idle_kib),
        mib(status_kib(server.pid(), "RssAnon:")),
        mib(status_kib(server.pid(), "RssFile:"))
    );

    // NDJSON.
    let case = "NDJSON: one 64 MB line of [0,0,…]";
    writer.open("ndjson-zeros").await;
    let body = ndjson_zeros_line(64_000_000);
    let answers = meter
        .measure(case, async {
            vec![writer.part("ndjson-zeros", NDJSON, body).await]
        })
        .await;
    meter.expect(case, &answers[0], &[413], &[ROW_BYTES]);

    let case = "NDJSON: 3 rows of 20,000 columns";
    writer.open("ndjson-wide").await;
    let body = ndjson_wide(3, 20_000);
    let answers = meter
        .measure(case, async {
            vec![writer.part("ndjson-wide", NDJSON, body).await]
        })
        .await;
    meter.expect(case, &answers[0], &[422], &[COLUMNS]);

    let case = "NDJSON: 100 rows of 1 MB";
    writer.open("ndjson-legit").await;
    let body = ndjson_rows(100, 1_000_000);
    let answers = meter
        .measure(case, async {
            vec![writer.part("ndjson-legit", NDJSON, body).await]
        })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "rows", 100);
    let case = "NDJSON: commit of 100 rows of 1 MB";
    let answers = meter
        .measure(case, async { vec![writer.commit("ndjson-legit").await] })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "data_rows", 100);

    // CSV.
    let case = "CSV: a 64 MB quoted field never closed";
    writer.open("csv-unterminated").await;
    let body = csv_unterminated(64_000_000);
    let answers = meter
        .measure(case, async {
            vec![writer.part("csv-unterminated", CSV, body).await]
        })
        .await;
    meter.expect(case, &answers[0], &[413], &[ROW_BYTES]);

    let case = "CSV: 100 records of 1 MB";
    writer.open("csv-legit").await;
    let body = csv_rows(100, 1_000_000);
    let answers = meter
        .measure(case, async {
            vec![writer.part("csv-legit", CSV, body).await]
        })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "rows", 100);
    let case = "CSV: commit of 100 records of 1 MB";
    let answers = meter
        .measure(case, async { vec![writer.commit("csv-legit").await] })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "data_rows", 100);

    // Parquet.
    let case = &format!(
        "Parquet: {} KB holding one 1 GiB string (zstd)",
        parquet_1gib.len() / 1000
    );
    writer.open("parquet-1gib").await;
    let answers = meter
        .measure(case, async {
            vec![writer.part("parquet-1gib", PARQUET, parquet_1gib).await]
        })
        .await;
    meter.expect(case, &answers[0], &[413], &[DECODER_MEMORY, ROW_BYTES]);

    let case = &format!(
        "Parquet: {} KB, a dictionary of one 1 MB string shown by {DICTIONARY_ROWS} rows",
        parquet_dictionary.len() / 1000
    );
    writer.open("parquet-dictionary").await;
    let answers = meter
        .measure(case, async {
            vec![
                writer
                    .part("parquet-dictionary", PARQUET, parquet_dictionary)
                    .await,
            ]
        })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "rows", DICTIONARY_ROWS);
    let case = &format!("Parquet: commit of {DICTIONARY_ROWS} rows of 1 MB");
    let answers = meter
        .measure(case, async {
            vec![writer.commit("parquet-dictionary").await]
        })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "data_rows", DICTIONARY_ROWS);

    // Arrow IPC.
    let case = "Arrow: a batch of 60 rows of 1 MB";
    writer.open("arrow-legit").await;
    let answers = meter
        .measure(case, async {
            vec![writer.part("arrow-legit", ARROW, arrow_60mb).await]
        })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "rows", 60);
    let case = "Arrow: commit of 60 rows of 1 MB";
    let answers = meter
        .measure(case, async { vec![writer.commit("arrow-legit").await] })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "data_rows", 60);

    let case = "Arrow: 5,000 dictionary keys on one 1 MB value";
    writer.open("arrow-dictionary").await;
    let answers = meter
        .measure(case, async {
            vec![
                writer
                    .part("arrow-dictionary", ARROW, arrow_dictionary)
                    .await,
            ]
        })
        .await;
    meter.expect(case, &answers[0], &[413], &[DECODED_BYTES]);

    let case = &format!(
        "Arrow: {} KB of zstd holding one 100 MB string",
        arrow_zstd.len() / 1000
    );
    writer.open("arrow-zstd").await;
    let answers = meter
        .measure(case, async {
            vec![writer.part("arrow-zstd", ARROW, arrow_zstd).await]
        })
        .await;
    meter.expect(case, &answers[0], &[413], &[BATCH_BYTES]);

    // Events: four at once over the company's two upload slots.
    let wide = event_body(30_000, 20);
    let case = &format!(
        "Events: 4 at once, {} KB, 30,000 keys each",
        wide.len() / 1000
    );
    let runs: Vec<String> = (0..4).map(|i| format!("event-wide-{i}")).collect();
    let answers = meter
        .measure(
            case,
            futures::future::join_all(runs.iter().map(|run| writer.event(run, wide.clone()))),
        )
        .await;
    for answer in &answers {
        meter.expect(case, answer, &[422, 503], &[COLUMNS]);
    }
    if !answers.iter().any(|(status, _)| *status == 422) {
        meter
            .faults
            .push(format!("{case}: none was refused for its columns"));
    }
    let body = event_body(1_000, 900);
    let case = &format!("Event: {} KB, 1,000 keys of 900 bytes", body.len() / 1000);
    let answers = meter
        .measure(case, async {
            vec![writer.event("event-legit", body).await]
        })
        .await;
    meter.expect(case, &answers[0], &[200], &[]);
    meter.expect_rows(case, &answers[0], "event_rows", 1);

    eprintln!("\n{}", meter.table());
    eprintln!(
        "the whole test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(meter.faults.is_empty(), "{}", meter.faults.join("\n"));
}
