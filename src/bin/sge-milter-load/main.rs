//! `sge-milter-load`: drives a milter (sge-milter, the built-in no-op milter, or
//! OpenDKIM/OpenDMARC) over TCP or a unix socket the way Postfix does, at a chosen
//! concurrency over a generated corpus, and reports msg/s, MB/s and latency.
//!
//! A binary target of the main crate rather than a workspace member: it reuses the
//! library (DKIM signing for the corpus, the listener for the no-op milter) and adds
//! no dependency, so it costs the test build one small extra link, and its quick test
//! (`cargo test --bin sge-milter-load`) runs with the rest of the suite.
//! See README "Performance" and `integration/compare.sh`.

mod client;
mod corpus;
mod hog;
mod noop;
mod run;
mod stats;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sge-milter-load",
    about = "Milter load generator (Postfix-like MTA side)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sends the corpus to a milter and prints one result line (or JSON).
    Run(run::RunArgs),
    /// Serves a no-op milter (the reference the ratios are measured against).
    Noop {
        /// inet:HOST:PORT or unix:PATH
        #[arg(long)]
        listen: String,
    },
    /// Writes the corpus as .eml files (to look at, or to feed `sge-milter scan`).
    Corpus {
        #[command(flatten)]
        corpus: run::CorpusArgs,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(args) => rt.block_on(run::main(args)),
        Command::Noop { listen } => rt
            .block_on(noop::serve(&listen, async {
                let _ = tokio::signal::ctrl_c().await;
            }))
            .map_err(|e| e.to_string()),
        Command::Corpus { corpus, out } => run::write_corpus(&corpus, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sge-milter-load: {e}");
            ExitCode::from(2)
        }
    }
}
