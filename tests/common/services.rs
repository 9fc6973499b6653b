//! Shared by the test binaries (included with `#[path]`): the rule for
//! tests that need PostgreSQL or the S3-compatible server.

/// The value of `variable`, which `scripts/test` sets when it started the
/// service; without it the test skips with a notice, or fails under
/// `CI=true` so that a missing service cannot pass unnoticed.
pub fn required(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{variable} is required under CI=true (scripts/test sets it)"
            );
            eprintln!("skipping: {variable} unset (run scripts/test)");
            None
        }
    }
}
