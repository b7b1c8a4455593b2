//! neo4j-gw: the Neo4j MCP server on AWS behind an Amazon Bedrock AgentCore Gateway, in one command.
//!
//! Everything lives in the library (`src/lib.rs`); this only hands over to it and exits with its code.

fn main() {
    std::process::exit(neo4j_gw::main());
}
