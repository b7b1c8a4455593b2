//! `neo4j-gw completions <shell>`: a completion script for the whole command line (clap_complete), on stdout.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::exit;

pub fn run(args: &CompletionsArgs) -> i32 {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "neo4j-gw",
        &mut std::io::stdout(),
    );
    exit::OK
}
