//! The DuckDB side: a long-lived `python3 bench/duckdb_side.py` process
//! that runs one scenario per request, so both sides are timed in one run,
//! alternating, on the same files.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

/// The DuckDB worker process.
pub struct DuckDb {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl DuckDb {
    /// Starts the worker (`script` is `bench/duckdb_side.py`).
    pub fn start(script: &Path) -> std::io::Result<Self> {
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        let stdout = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout"))?,
        );
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// Runs one scenario; returns DuckDB's own elapsed milliseconds and
    /// the rows it returned.
    pub fn run(
        &mut self,
        scenario: &str,
        attempt: &Path,
        params: Value,
    ) -> std::io::Result<(f64, u64)> {
        let request =
            serde_json::json!({"scenario": scenario, "attempt": attempt, "params": params});
        writeln!(self.stdin, "{request}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let answer: Value = serde_json::from_str(&line)
            .map_err(|e| std::io::Error::other(format!("duckdb worker answered {line:?}: {e}")))?;
        Ok((
            answer["ms"].as_f64().unwrap_or(f64::NAN),
            answer["rows"].as_u64().unwrap_or(0),
        ))
    }
}

impl Drop for DuckDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
