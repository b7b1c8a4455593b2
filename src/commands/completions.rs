//! `neo4j-gw completions <shell>`: a completion script for the whole command line (clap_complete), on stdout.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::exit;

pub fn run(args: &CompletionsArgs) -> i32 {
    // Generated in memory, then printed like every result (a closed stdout ends the process quietly).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "neo4j-gw", &mut script);
    print!("{}", String::from_utf8_lossy(&script));
    exit::OK
}
