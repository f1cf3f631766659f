//! `shmheap`: look inside shmheap segments, check them, recover them, clean
//! up. See the README's "The `shmheap` command" and `docs/cli-json.md`.
//!
//! Inspecting never writes to a segment: `ls`, `info`, `rm`'s check and
//! `watch` read a copy of the header (no attaching); `dump`, `stats` and
//! `validate` attach for inspection (a process record, no recovery, no
//! validation of their own) and take a turn like any process, and read;
//! `--no-turn` reads a snapshot copy instead. Only `recover` and `rm`
//! change anything.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Look inside shmheap shared-memory segments.
#[derive(Parser, Debug)]
#[command(name = "shmheap", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Print JSON instead of text (field names: docs/cli-json.md).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// List the shmheap segments in /dev/shm (or in DIR): name, size, use,
    /// version, processes.
    Ls {
        /// A directory of file-backed segments to list instead.
        dir: Option<PathBuf>,
    },
    /// The header, the process table and the turn.
    Info(Target),
    /// The root namespace and the queue, as Python literals.
    Dump {
        #[command(flatten)]
        target: Target,
        /// Containers nested deeper print as `[...]`.
        #[arg(long, default_value_t = 8)]
        depth: usize,
        /// Items printed per container before `...`.
        #[arg(long, default_value_t = 100)]
        max_items: usize,
        #[command(flatten)]
        turn: TurnArgs,
    },
    /// Allocator statistics: use, blocks by size class, fragmentation.
    Stats {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        turn: TurnArgs,
    },
    /// Validate the whole segment (exit status 0 if valid, 1 if not).
    Validate {
        #[command(flatten)]
        target: Target,
        /// How long to wait for the turn.
        #[arg(long, value_parser = seconds, default_value = "10")]
        timeout: Duration,
    },
    /// Recover a segment whose turn holder died.
    Recover(Target),
    /// Remove a segment's name (refused while live processes are attached).
    Rm {
        #[command(flatten)]
        target: Target,
        /// Remove it even while live processes are attached.
        #[arg(long)]
        force: bool,
    },
    /// Turns per second, waiters and use, refreshed until Ctrl-C.
    Watch {
        #[command(flatten)]
        target: Target,
        /// Seconds between refreshes.
        #[arg(long, value_parser = seconds, default_value = "1")]
        interval: Duration,
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
}

/// The segment a command works on.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Target {
    /// A segment name (in /dev/shm), or the path of a file-backed segment
    /// (anything with a `/`, e.g. `./data.shm`).
    pub(crate) name: String,
}

/// How `dump` and `stats` read.
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct TurnArgs {
    /// Read a snapshot copy without taking the turn (for a segment whose
    /// turn is stuck; it may be inconsistent).
    #[arg(long)]
    pub(crate) no_turn: bool,
    /// How long to wait for the turn.
    #[arg(long, value_parser = seconds, default_value = "10")]
    pub(crate) timeout: Duration,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let x: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(x).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(&cli.command, cli.json) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("shmheap: {e}");
            ExitCode::FAILURE
        }
    }
}
