//! `dagtrail serve` as a process refuses to start without a way to verify
//! tokens. (Serving on a real socket and stopping on SIGTERM are in
//! `tests/reliability/shutdown.rs`.)

use std::process::Command;

#[test]
fn serve_refuses_to_start_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DAGTRAIL_DATA_DIR", dir.path())
        .env_remove("DAGTRAIL_JWT_SECRET")
        .env_remove("DAGTRAIL_JWT_PUBLIC_KEY")
        .env_remove("DAGTRAIL_JWKS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One line a user can act on, whatever RUST_BACKTRACE says.
    assert!(
        stderr.starts_with("error: no way to verify tokens")
            && stderr.contains("DAGTRAIL_JWT_SECRET")
            && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );
}
