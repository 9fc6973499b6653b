//! Shared by the test binaries (included with `#[path]`): the signing
//! secret the tests' servers verify with, and tokens signed with it.

use std::time::Duration;

use dagtrail::model::Company;
use dagtrail::settings::Secret;

/// The HS256 secret of every server a test starts.
pub const SECRET: &str = "test-secret-with-enough-length-0123456789";

/// A bearer token for `company` (an hour long), as `dagtrail token` mints.
pub fn token(company: &str) -> String {
    dagtrail::auth::token::mint_hs256(
        &Secret::new(SECRET),
        "id_company",
        &Company::new(company).unwrap(),
        Duration::from_secs(3600),
    )
    .unwrap()
}
