//! `dagtrail token`: print an HS256 token for local use.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dagtrail::auth::token::{DEFAULT_COMPANY_CLAIM, mint_hs256};
use dagtrail::model::Company;
use dagtrail::settings::{Secret, demo_secret, read_secret_file};

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The company the token acts for.
    #[arg(long)]
    company: Company,
    /// How long the token is valid (e.g. 30m, 1h, 7d).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// HMAC secret to sign with [default: the one `serve --demo` keeps in
    /// the data folder, when there is one].
    #[arg(long, env = "DAGTRAIL_JWT_SECRET", hide_env_values = true)]
    secret: Option<Secret>,
    /// A file holding the HMAC secret (a mounted secret), instead of
    /// DAGTRAIL_JWT_SECRET.
    #[arg(long, env = "DAGTRAIL_JWT_SECRET_FILE", conflicts_with = "secret", value_parser = read_secret_file)]
    secret_file: Option<Secret>,
    /// Where `serve --demo` keeps its signing secret.
    #[arg(long, env = "DAGTRAIL_DATA_DIR", default_value = "./dagtrail-data")]
    data_dir: PathBuf,
    /// Claim that names the company.
    #[arg(long, env = "DAGTRAIL_JWT_COMPANY_CLAIM", default_value = DEFAULT_COMPANY_CLAIM)]
    company_claim: String,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let secret = match args.secret.or(args.secret_file) {
        Some(secret) => secret,
        None => demo_secret(&args.data_dir)
            .with_context(|| format!("cannot read the demo secret in {}", args.data_dir.display()))?
            .context(
                "no signing secret: set DAGTRAIL_JWT_SECRET (or pass --secret), or run `serve --demo` once to make one",
            )?,
    };
    let token = mint_hs256(&secret, &args.company_claim, &args.company, args.ttl)
        .context("cannot make the token")?;
    println!("{token}");
    Ok(())
}
