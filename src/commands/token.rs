//! `neo4j-gw token`: an OAuth access token for the gateway.

use super::Env;
use crate::cli::TokenArgs;
use crate::error::{Error, Result};

pub async fn run(_env: &Env, _args: &TokenArgs) -> Result<()> {
    Err(Error::other(
        "`token` needs the identity layer (Cognito), which this build does not deploy yet",
    ))
}
