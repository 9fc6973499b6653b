//! Generated rows for the demo: order data with every kind of column the
//! contract maps (ints, floats, decimals, timestamps, dates, booleans,
//! non-ASCII text, nulls, lists, structs), error rows with tracebacks, logs
//! at every level, and trigger events. Deterministic for a given seed.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Date32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::model::Phase;

const CUSTOMERS: &[&str] = &[
    "Ünïcödé Traders GmbH",
    "Zoë Müller",
    "José Núñez",
    "Łukasz Żółć",
    "Ōsaka Shōji 株式会社",
    "Søren Kierkegård",
    "Acme Corp",
    "Björk Guðmundsdóttir",
    "Renée Lefèvre",
    "Ivan Petrović",
    "Chloé Dubois",
    "Nguyễn Văn An",
    "Αλέξανδρος Παππάς",
    "Мария Иванова",
    "Olúwaseun Adéyemí",
];
const CITIES: &[(&str, &str)] = &[
    ("München", "DE"),
    ("São Paulo", "BR"),
    ("Kraków", "PL"),
    ("Reykjavík", "IS"),
    ("Zürich", "CH"),
    ("Malmö", "SE"),
    ("Besançon", "FR"),
    ("Tōkyō", "JP"),
    ("Austin", "US"),
    ("Lagos", "NG"),
];
const TAGS: &[&str] = &[
    "priority",
    "gift",
    "b2b",
    "returning",
    "promo",
    "fragile",
    "éco",
];
const LOGGERS: &[&str] = &[
    "etl.extract",
    "etl.transform",
    "etl.load",
    "airflow.task",
    "s3.client",
];

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn address_fields() -> Fields {
    Fields::from(vec![
        Field::new("city", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("zip", DataType::Utf8, true),
    ])
}

/// True once in `n` draws.
fn one_in(rng: &mut fastrand::Rng, n: u32) -> bool {
    rng.u32(..n) == 0
}

/// The data schema of a phase (transform adds a converted amount, load a
/// destination column).
pub fn data_schema(phase: Phase) -> SchemaRef {
    let mut fields = vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(12, 2), true),
        Field::new("discount", DataType::Float64, true),
        Field::new("quantity", DataType::Int32, true),
        Field::new("ordered_at", utc(), true),
        Field::new("ship_date", DataType::Date32, true),
        Field::new("is_priority", DataType::Boolean, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("address", DataType::Struct(address_fields()), true),
    ];
    match phase {
        Phase::Transform => fields.push(Field::new("amount_eur", DataType::Float64, true)),
        Phase::Load => fields.push(Field::new("destination", DataType::Utf8, true)),
        Phase::Event | Phase::Extract => {}
    }
    Arc::new(Schema::new(fields))
}

/// How a demo data row is wrong, so that the error that names it is true
/// and the row, opened from the error, visibly bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// `amount` is negative.
    NegativeAmount,
    /// `ship_date` is missing.
    MissingShipDate,
    /// `order_id` repeats the row before's.
    DuplicateKey,
}

/// The flaw of data row `row` of a phase whose every `every`-th row has
/// one (none when `every` is 0). Deterministic, so that the data, its
/// errors and its logs agree.
pub fn flaw(row: usize, every: usize) -> Option<Flaw> {
    if every == 0 || row % every != every / 2 {
        return None;
    }
    Some(match (row / every) % 3 {
        1 => Flaw::MissingShipDate,
        2 if row > 0 => Flaw::DuplicateKey,
        _ => Flaw::NegativeAmount,
    })
}

/// `n` data rows starting at row number `first` of a phase, every
/// `flaw_every`-th of them flawed ([`flaw`]; 0: none). Other rows are
/// sound: a positive amount, a ship date, a key of their own.
///
/// # Errors
///
/// An [`ArrowError`] only if the columns built here stop matching
/// [`data_schema`].
pub fn data_batch(
    rng: &mut fastrand::Rng,
    phase: Phase,
    first: usize,
    n: usize,
    day: NaiveDate,
    flaw_every: usize,
) -> Result<RecordBatch, ArrowError> {
    let day_start = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros())
        .unwrap_or(0);
    let mut ids = Vec::with_capacity(n);
    let mut customers = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut discounts = Vec::with_capacity(n);
    let mut quantities = Vec::with_capacity(n);
    let mut ordered = Vec::with_capacity(n);
    let mut ship = Vec::with_capacity(n);
    let mut priority = Vec::with_capacity(n);
    let mut tags = ListBuilder::new(StringBuilder::new());
    let (mut cities, mut countries, mut zips) = (Vec::new(), Vec::new(), Vec::new());
    let mut eur = Vec::with_capacity(n);
    let mut dest = Vec::with_capacity(n);
    for i in 0..n {
        let row = first + i;
        let flawed = flaw(row, flaw_every);
        let key = match flawed {
            Some(Flaw::DuplicateKey) => row - 1,
            _ => row,
        };
        ids.push(1_000_000 + key as i64);
        customers.push((!one_in(rng, 29)).then(|| CUSTOMERS[rng.usize(..CUSTOMERS.len())]));
        let cents = rng.i128(100..5_000_000);
        amounts.push(Some(match flawed {
            Some(Flaw::NegativeAmount) => -cents,
            _ => cents,
        }));
        discounts.push(match rng.u8(..) % 50 {
            0 => None,
            1 => Some(f64::NAN),
            _ => Some(f64::from(rng.u8(..30)) / 100.0),
        });
        quantities.push((!one_in(rng, 37)).then(|| rng.i32(1..50)));
        ordered.push(Some(day_start + rng.i64(0..86_400_000_000)));
        let ships = Date32Type::from_naive_date(day) + rng.i32(1..10);
        ship.push((flawed != Some(Flaw::MissingShipDate)).then_some(ships));
        priority.push((!one_in(rng, 23)).then(|| one_in(rng, 5)));
        if one_in(rng, 19) {
            tags.append(false);
        } else {
            for _ in 0..rng.usize(0..3) {
                tags.values().append_value(TAGS[rng.usize(..TAGS.len())]);
            }
            tags.append(true);
        }
        let (city, country) = CITIES[rng.usize(..CITIES.len())];
        cities.push(Some(city));
        countries.push(Some(country));
        zips.push((!one_in(rng, 13)).then(|| format!("{:05}", rng.u32(1000..99_999))));
        eur.push(Some(cents as f64 / 100.0 * 0.92));
        dest.push(Some(if row.is_multiple_of(2) {
            "warehouse.orders"
        } else {
            "warehouse.orders_archive"
        }));
    }
    let address = StructArray::try_new(
        address_fields(),
        vec![
            Arc::new(StringArray::from(cities)) as ArrayRef,
            Arc::new(StringArray::from(countries)),
            Arc::new(StringArray::from(zips)),
        ],
        None,
    )?;
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(customers)),
        Arc::new(Decimal128Array::from(amounts).with_precision_and_scale(12, 2)?),
        Arc::new(Float64Array::from(discounts)),
        Arc::new(Int32Array::from(quantities)),
        Arc::new(TimestampMicrosecondArray::from(ordered).with_timezone("UTC")),
        Arc::new(Date32Array::from(ship)),
        Arc::new(BooleanArray::from(priority)),
        Arc::new(tags.finish()),
        Arc::new(address),
    ];
    match phase {
        Phase::Transform => columns.push(Arc::new(Float64Array::from(eur))),
        Phase::Load => columns.push(Arc::new(StringArray::from(dest))),
        Phase::Event | Phase::Extract => {}
    }
    RecordBatch::try_new(data_schema(phase), columns)
}

/// One flawed data row: its place among the phase's data rows, its flaw,
/// and the row itself as JSON (what its error's `record` holds).
#[derive(Debug, Clone)]
pub struct FlawedRow {
    /// 0-based place among the phase's data rows.
    pub row: usize,
    /// What is wrong with it.
    pub flaw: Flaw,
    /// The row as JSON text.
    pub record: String,
}

impl FlawedRow {
    /// What is wrong, in words, from the row's own values.
    pub fn detail(&self) -> String {
        let row: serde_json::Value = serde_json::from_str(&self.record).unwrap_or_default();
        let id = &row["order_id"];
        match self.flaw {
            Flaw::NegativeAmount => format!(
                "amount {} of order {id} is negative",
                row["amount"].as_str().unwrap_or("?")
            ),
            Flaw::MissingShipDate => format!("order {id} has no ship_date"),
            Flaw::DuplicateKey => {
                format!("order_id {id} is already loaded (the row before has it)")
            }
        }
    }
}

/// Error rows (in the contract's errors schema): one for each row of
/// `flawed`, naming it by its place among the phase's data rows (`_row`
/// without `_file`: the writer resolves it) with the row itself as its
/// `record`; then `rowless` errors about no row (the source timing out).
///
/// # Errors
///
/// An [`ArrowError`] only if the columns built here stop matching
/// the errors schema.
pub fn error_batch(
    phase: Phase,
    flawed: &[FlawedRow],
    rowless: usize,
    at: DateTime<Utc>,
) -> Result<RecordBatch, ArrowError> {
    let n = flawed.len() + rowless;
    let mut types = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut details = Vec::with_capacity(n);
    let mut tracebacks = Vec::with_capacity(n);
    let mut occurred = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n);
    let mut records = Vec::with_capacity(n);
    for (i, bad) in flawed.iter().enumerate() {
        let (kind, title, status, raised) = match bad.flaw {
            Flaw::NegativeAmount => (
                "https://dagtrail.dev/errors/validation",
                "Invalid amount",
                422,
                "ValueError",
            ),
            Flaw::MissingShipDate => (
                "https://dagtrail.dev/errors/validation",
                "Missing ship date",
                422,
                "ValueError",
            ),
            Flaw::DuplicateKey => (
                "https://dagtrail.dev/errors/duplicate",
                "Duplicate key",
                409,
                "IntegrityError",
            ),
        };
        let detail = bad.detail();
        types.push(kind);
        titles.push(title);
        statuses.push(status);
        tracebacks.push(Some(format!(
            "Traceback (most recent call last):\n  File \"/opt/airflow/dags/etl/{phase}.py\", line {}, in run\n    validate(record)\n  File \"/opt/airflow/dags/etl/validate.py\", line 88, in validate\n    raise {raised}(\"{detail}\")\n{raised}: {detail}",
            40 + i % 60
        )));
        details.push(detail);
        occurred.push(at.timestamp_micros() + i as i64 * 1_000);
        rows.push(i64::try_from(bad.row).ok());
        records.push(Some(bad.record.clone()));
    }
    for i in 0..rowless {
        types.push("about:blank");
        titles.push("Upstream timeout");
        statuses.push(504);
        details.push("the source API did not answer within 30 s".to_owned());
        tracebacks.push(None);
        occurred.push(at.timestamp_micros() + (flawed.len() + i) as i64 * 1_000);
        rows.push(None);
        records.push(None);
    }
    RecordBatch::try_new(
        crate::artifacts::schemas::errors_schema(),
        vec![
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(titles)),
            Arc::new(Int32Array::from(statuses)),
            Arc::new(StringArray::from(details)),
            Arc::new(StringArray::from(tracebacks)),
            Arc::new(TimestampMicrosecondArray::from(occurred).with_timezone("UTC")),
            Arc::new(Int32Array::from(vec![None::<i32>; n])),
            Arc::new(Int64Array::from(rows)),
            Arc::new(StringArray::from(records)),
        ],
    )
}

/// What a phase's log says: its time span and what went wrong in it.
#[derive(Debug, Clone, Copy)]
pub struct LogStory<'a> {
    /// When the phase started and ended: log lines spread over it.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Lines of the whole log.
    pub total: usize,
    /// The rows that were rejected (ERROR lines name them).
    pub flawed: &'a [FlawedRow],
    /// Whether the phase failed (its last line is CRITICAL).
    pub failed: bool,
}

/// `n` log rows from `first` on, in time order over the phase's span, at
/// every level: ERROR lines name rows that were rejected, and only a failed
/// phase logs CRITICAL, last.
///
/// # Errors
///
/// An [`ArrowError`] only if the columns built here stop matching
/// the logs schema.
pub fn log_batch(
    rng: &mut fastrand::Rng,
    phase: Phase,
    first: usize,
    n: usize,
    story: &LogStory<'_>,
) -> Result<RecordBatch, ArrowError> {
    let span = (story.end - story.start)
        .num_microseconds()
        .unwrap_or(0)
        .max(0);
    let total = story.total.max(1) as i64;
    let mut ts = Vec::with_capacity(n);
    let mut levels = Vec::with_capacity(n);
    let mut loggers = Vec::with_capacity(n);
    let mut messages = Vec::with_capacity(n);
    let mut rejected = 0;
    for i in 0..n {
        let seq = first + i;
        ts.push(story.start.timestamp_micros() + span * seq as i64 / total);
        let last = seq + 1 == story.total;
        let (level, message) = match rng.u8(..100) {
            _ if last && story.failed => (
                "CRITICAL",
                format!("{phase} failed: upstream timeout after 30 s"),
            ),
            95..=99 if !story.flawed.is_empty() => {
                let bad = &story.flawed[(seq + rejected) % story.flawed.len()];
                rejected += 1;
                (
                    "ERROR",
                    format!("row {} rejected: {}", bad.row, bad.detail()),
                )
            }
            0..=29 => (
                "DEBUG",
                format!(
                    "fetched page {seq} of the source cursor ({} rows)",
                    rng.u16(..1000)
                ),
            ),
            85..=99 => (
                "WARNING",
                format!(
                    "slow response from source: {} ms (retrying, attempt {})",
                    rng.u16(1000..9000),
                    1 + seq % 3
                ),
            ),
            _ => (
                "INFO",
                format!(
                    "{phase}: processed batch {seq}, {} rows in {} ms",
                    rng.u16(..5000),
                    rng.u16(..900)
                ),
            ),
        };
        levels.push(level);
        loggers.push(LOGGERS[rng.usize(..LOGGERS.len())]);
        messages.push(message);
    }
    RecordBatch::try_new(
        crate::artifacts::schemas::logs_schema(),
        vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(levels)),
            Arc::new(StringArray::from(loggers)),
            Arc::new(StringArray::from(messages)),
        ],
    )
}

/// The raw trigger message and the processed event of a run.
///
/// # Errors
///
/// An [`ArrowError`] only if the columns built here stop matching
/// their schemas.
pub fn event_batches(
    run_id: &str,
    dag: &str,
    at: DateTime<Utc>,
) -> Result<(RecordBatch, RecordBatch), ArrowError> {
    let body = json!({"dag": dag, "run_id": run_id, "source": "s3://landing/orders/", "files": ["orders_001.csv", "orders_002.csv"]});
    let attributes = json!({"ApproximateReceiveCount": "1", "SenderId": "AIDAEXAMPLE"});
    let queue = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("message_id", DataType::Utf8, false),
            Field::new("received_at", utc(), false),
            Field::new("body", DataType::Utf8, false),
            Field::new("attributes", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from(vec![format!(
                "msg-{:016x}",
                at.timestamp_micros()
            )])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![at.timestamp_micros()]).with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![body.to_string()])),
            Arc::new(StringArray::from(vec![attributes.to_string()])),
        ],
    )?;
    let mut files = ListBuilder::new(StringBuilder::new());
    files.values().append_value("orders_001.csv");
    files.values().append_value("orders_002.csv");
    files.append(true);
    let event = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("trigger", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new(
                "files",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
            Field::new("processed_at", utc(), false),
        ])),
        vec![
            Arc::new(StringArray::from(vec![run_id])),
            Arc::new(StringArray::from(vec![if run_id.starts_with("manual__") {
                "manual"
            } else {
                "schedule"
            }])),
            Arc::new(StringArray::from(vec!["s3://landing/orders/"])),
            Arc::new(files.finish()),
            Arc::new(
                TimestampMicrosecondArray::from(vec![at.timestamp_micros() + 250_000])
                    .with_timezone("UTC"),
            ),
        ],
    )?;
    Ok((queue, event))
}
