//! The command line (DESIGN §10).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "saluran", version, about = "Real-time hotel channel manager and operations hub")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API (migrates the database first).
    Serve {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on (env SALURAN_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// sqlite://PATH or postgres://… (env DATABASE_URL).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the API document (OpenAPI 3.1, generated from the code) and
    /// exit: `saluran openapi > docs/openapi.json`.
    Openapi,
    /// Run saluran on an embedded SQLite database with a seeded demo
    /// property, and print where to look.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, default_value = "sqlite://data/demo.db")]
        database_url: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a bearer token; prints it alone on the last line.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Restrict the token to these properties (repeatable); none: all
        /// of the tenant's.
        #[arg(long = "property")]
        properties: Vec<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        database_url: Option<String>,
    },
}
