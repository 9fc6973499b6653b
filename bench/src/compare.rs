//! `dagtrail-bench compare`: two running servers side by side over HTTP —
//! ours (`dagtrail serve`) and the original stack (`bench/original_stack.py`,
//! FastAPI + DuckDB) over the same files — in one run, alternating request
//! by request: median latency, CPU time per request (the servers' own,
//! read from `/proc`, children included: uvicorn's workers are child
//! processes), and requests per second under concurrent load (issue 16's
//! table).

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::load::run_load;

/// One side of the comparison: a server and the processes whose CPU it
/// spends.
#[derive(Debug, Clone)]
pub struct Side {
    /// Its base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Its process (its children are counted with it).
    pub pid: u32,
}

/// One latency scenario: a path under the run's URL and the target
/// for the ratio ours/original.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// What it is, as the report names it.
    pub name: String,
    /// The path and query after the run's URL (`/phases/extract/data?…`);
    /// `{page}` is replaced by a page number of its own for each request
    /// (1,000 + 22 per request, warm-ups after the measured ones: pages of
    /// 50 rows 1,100 rows apart, so that no page starts in a block of at
    /// most 1,024 rows the one before read, even one that spilled into the
    /// next block), for requests that must each read rows no request read
    /// before.
    pub path: String,
    /// The ratio to meet, as the issue states it.
    pub target: String,
}

/// A scenario measured on both sides.
#[derive(Debug, Clone)]
pub struct Compared {
    /// The scenario.
    pub scenario: Scenario,
    /// Median milliseconds, ours.
    pub ours_ms: f64,
    /// Median milliseconds, the original stack.
    pub original_ms: f64,
    /// Server CPU milliseconds per request, ours.
    pub ours_cpu_ms: f64,
    /// Server CPU milliseconds per request, the original stack.
    pub original_cpu_ms: f64,
}

/// A load measured on both sides.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// What was loaded.
    pub name: String,
    /// Concurrent connections.
    pub connections: usize,
    /// Requests per second, ours.
    pub ours_rps: f64,
    /// Requests per second, the original stack.
    pub original_rps: f64,
    /// Server CPU milliseconds per request, ours.
    pub ours_cpu_ms: f64,
    /// Server CPU milliseconds per request, the original stack.
    pub original_cpu_ms: f64,
    /// Failed requests, ours and theirs.
    pub errors: (usize, usize),
    /// The ratio to meet.
    pub target: String,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU times.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU milliseconds spent so far by `pid` and every process under it
/// (user + system, Linux `/proc`).
fn cpu_ms(pid: u32, ticks: f64) -> f64 {
    let mut total = 0.0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return f64::NAN;
    };
    let mut parents: Vec<(u32, u32, f64)> = Vec::new();
    for entry in entries.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the command (which may hold spaces) in parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        // rest[0] is the state (field 3): ppid is field 4, utime 14, stime 15.
        if let (Some(ppid), Some(user), Some(system)) = (field(1), field(11), field(12)) {
            parents.push((p, ppid as u32, (user + system) / ticks * 1000.0));
        }
    }
    let mut family = vec![pid];
    let mut grew = true;
    while grew {
        grew = false;
        for (p, ppid, _) in &parents {
            if family.contains(ppid) && !family.contains(p) {
                family.push(*p);
                grew = true;
            }
        }
    }
    for (p, _, ms) in &parents {
        if family.contains(p) {
            total += ms;
        }
    }
    total
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Milliseconds of one GET read to its end; a non-200 is an error.
async fn timed_get(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    response.bytes().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status}");
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Measures each scenario on both sides, `reps` times each after two
/// warm-up requests, alternating original then ours; the servers' CPU is
/// read around each request.
///
/// # Errors
///
/// A request that fails or answers other than 200.
pub async fn latencies(
    ours: &Side,
    original: &Side,
    run_path: &str,
    token: &str,
    scenarios: &[Scenario],
    reps: usize,
) -> anyhow::Result<Vec<Compared>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2)
        .build()?;
    let ticks = clock_ticks();
    let mut compared = Vec::new();
    for scenario in scenarios {
        let url = |side: &Side, n: usize| {
            format!(
                "{}{run_path}{}",
                side.url,
                scenario
                    .path
                    .replace("{page}", &(1000 + 21 * n).to_string())
            )
        };
        for side in [original, ours] {
            for warm in 0..2 {
                timed_get(&client, &url(side, reps + warm), token)
                    .await
                    .with_context(|| format!("warming up {}", scenario.name))?;
            }
        }
        let (mut ours_ms, mut original_ms) = (Vec::new(), Vec::new());
        let (mut ours_cpu, mut original_cpu) = (0.0, 0.0);
        for n in 0..reps {
            for (side, times, cpu) in [
                (original, &mut original_ms, &mut original_cpu),
                (ours, &mut ours_ms, &mut ours_cpu),
            ] {
                let before = cpu_ms(side.pid, ticks);
                times.push(timed_get(&client, &url(side, n), token).await?);
                *cpu += cpu_ms(side.pid, ticks) - before;
            }
        }
        compared.push(Compared {
            scenario: scenario.clone(),
            ours_ms: median(ours_ms),
            original_ms: median(original_ms),
            ours_cpu_ms: ours_cpu / reps as f64,
            original_cpu_ms: original_cpu / reps as f64,
        });
    }
    Ok(compared)
}

/// Loads `path` on each side in turn with `connections` clients for
/// `seconds`, counting requests and the servers' CPU.
///
/// # Errors
///
/// When the load cannot run.
pub async fn throughput(
    ours: &Side,
    original: &Side,
    run_path: &str,
    token: &str,
    (name, path, target): (&str, &str, &str),
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Throughput> {
    let ticks = clock_ticks();
    let mut results = Vec::new();
    for side in [original, ours] {
        let url = format!("{}{run_path}{path}", side.url);
        let before = cpu_ms(side.pid, ticks);
        let load = run_load(
            name,
            &[url],
            token,
            connections,
            Duration::from_secs(seconds),
        )
        .await?;
        let cpu = cpu_ms(side.pid, ticks) - before;
        results.push((
            load.per_second,
            cpu / load.requests.max(1) as f64,
            load.errors,
        ));
    }
    let (theirs, ours) = (results[0], results[1]);
    Ok(Throughput {
        name: name.to_owned(),
        connections,
        ours_rps: ours.0,
        original_rps: theirs.0,
        ours_cpu_ms: ours.1,
        original_cpu_ms: theirs.1,
        errors: (ours.2, theirs.2),
        target: target.to_owned(),
    })
}

/// The report: one table of latencies, one of throughput.
pub fn markdown(title: &str, compared: &[Compared], loads: &[Throughput]) -> String {
    let mut out = format!(
        "#### {title}\n\n| scenario | ours p50 (ms) | original p50 (ms) | ratio ours/original | ours CPU/request (ms) | original CPU/request (ms) | target |\n|---|---:|---:|---:|---:|---:|---|\n"
    );
    for c in compared {
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | **{:.3}** | {:.2} | {:.2} | {} |\n",
            c.scenario.name,
            c.ours_ms,
            c.original_ms,
            c.ours_ms / c.original_ms,
            c.ours_cpu_ms,
            c.original_cpu_ms,
            c.scenario.target
        ));
    }
    out.push_str(
        "\n| load | connections | ours req/s | original req/s | ratio ours/original | ours CPU/request (ms) | original CPU/request (ms) | errors (ours/original) | target |\n|---|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for t in loads {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | **{:.1}×** | {:.2} | {:.2} | {}/{} | {} |\n",
            t.name,
            t.connections,
            t.ours_rps,
            t.original_rps,
            t.ours_rps / t.original_rps,
            t.ours_cpu_ms,
            t.original_cpu_ms,
            t.errors.0,
            t.errors.1,
            t.target
        ));
    }
    out
}
