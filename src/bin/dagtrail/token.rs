//! `dagtrail token`: print a token for local use and smoke tests, signed
//! with an HMAC secret (HS256) or a private key (RS/PS/ES/EdDSA).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dagtrail::auth::token::{DEFAULT_COMPANY_CLAIM, ExtraClaims, Signer, mint};
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
    /// Files each holding an HMAC secret, comma-separated, instead of
    /// DAGTRAIL_JWT_SECRET: the first signs.
    #[arg(long, env = "DAGTRAIL_JWT_SECRET_FILE", conflicts_with = "secret", value_delimiter = ',', value_parser = read_secret_file)]
    secret_file: Vec<Secret>,
    /// A PEM private key (RSA, P-256, P-384 or Ed25519) to sign with
    /// instead of a secret, for a server that verifies the public key or a
    /// JWKS.
    #[arg(long, conflicts_with_all = ["secret", "secret_file"])]
    private_key: Option<PathBuf>,
    /// The signing algorithm for --private-key [default: RS256, ES256,
    /// ES384 or EdDSA, from the key].
    #[arg(long, requires = "private_key")]
    algorithm: Option<String>,
    /// The `kid` put in the token's header (a JWKS finds the key by it).
    #[arg(long)]
    kid: Option<String>,
    /// The `iss` claim (a server with DAGTRAIL_JWT_ISSUER requires it).
    #[arg(long, env = "DAGTRAIL_JWT_ISSUER")]
    issuer: Option<String>,
    /// The `aud` claim (a server with DAGTRAIL_JWT_AUDIENCE requires it).
    #[arg(long, env = "DAGTRAIL_JWT_AUDIENCE")]
    audience: Option<String>,
    /// OAuth 2 scopes the token grants (the `scope` claim), comma-separated
    /// or repeated: `runs:write` lets it record runs through the write API.
    /// Reading needs none.
    #[arg(long = "scope", value_delimiter = ',')]
    scopes: Vec<String>,
    /// Where `serve --demo` keeps its signing secret.
    #[arg(long, env = "DAGTRAIL_DATA_DIR", default_value = "./dagtrail-data")]
    data_dir: PathBuf,
    /// Claim that names the company.
    #[arg(long, env = "DAGTRAIL_JWT_COMPANY_CLAIM", default_value = DEFAULT_COMPANY_CLAIM)]
    company_claim: String,
}

fn signer(args: &TokenArgs) -> anyhow::Result<Signer> {
    if let Some(path) = &args.private_key {
        let algorithm = args
            .algorithm
            .as_deref()
            .map(|name| {
                name.parse::<jsonwebtoken::Algorithm>()
                    .map_err(|_| anyhow::anyhow!("unknown algorithm {name:?}"))
            })
            .transpose()?;
        return Ok(Signer::from_private_pem(path, algorithm)?);
    }
    let secret = match (&args.secret, args.secret_file.first()) {
        (Some(secret), _) => secret.clone(),
        (None, Some(first)) => first.clone(),
        (None, None) => demo_secret(&args.data_dir)
            .with_context(|| format!("cannot read the demo secret in {}", args.data_dir.display()))?
            .context(
                "no signing key: set DAGTRAIL_JWT_SECRET (or pass --secret or --private-key), or run `serve --demo` once to make a secret",
            )?,
    };
    Ok(Signer::hs256(&secret)?)
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let signer = signer(&args)?.with_kid(args.kid.clone());
    let extra = ExtraClaims {
        issuer: args.issuer.clone(),
        audience: args.audience.clone(),
        scopes: args.scopes.clone(),
    };
    let token = mint(
        &signer,
        &args.company_claim,
        &args.company,
        args.ttl,
        &extra,
    )
    .context("cannot make the token")?;
    println!("{token}");
    Ok(())
}
