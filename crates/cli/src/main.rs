//! The `fedml` command line: a thin layer that parses arguments, calls the Rust SDK (or, for
//! `server` and `admin`, the server library) and decides the exit status in one place.
//!
//! Exit status: 0 on SUCCESS, 1 on FAILURE (refused: bad input, not found, …), 2 on ERROR
//! (something broke) and on bad command lines, 130 when interrupted.

mod admin;
mod admin_ops;
mod org;
mod output;
mod s3;
mod server;
mod share;
mod storage;
mod versions;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fedml", version, about = "FedML storage: keep datasets and models on your own platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check an API key against the server and save it (and the server URL) for later commands.
    Login(storage::LoginArgs),
    /// Forget the saved API key.
    Logout,
    /// Upload, download, list and delete stored data.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// Organisations: create them, manage their members and roles, read their audit log.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Run the storage platform server.
    Server(Box<server::ServerArgs>),
    /// Manage users and API keys (works on the server's data directory or database directly).
    Admin(admin::AdminArgs),
}

/// What a command produced, mapped to the exit status here and nowhere else.
pub enum Outcome {
    Success,
    Failure,
    Error,
    Interrupted,
}

fn main() -> ExitCode {
    // Transfers allocate buffers of a few MiB (parts, packs) from several threads: glibc's
    // malloc would otherwise raise its mmap threshold after the first is freed and keep the
    // later ones in per-thread heaps, where freed buffers stay resident.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a plain setting of the allocator, made before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    // The FedML CLI spells user metadata `-um`, which is not a single-letter flag: accept it.
    let args = std::env::args_os().map(|a| if a == "-um" { "--user_metadata".into() } else { a });
    let cli = Cli::parse_from(args);
    // SIGPIPE stays ignored (Rust's default): a connection closed while a request is being sent
    // is an error the client reports. A reader of stdout that stops early (`… | head`) ends the
    // command quietly all the same (`output::print_line`).
    let outcome = match cli.command {
        Command::Login(args) => storage::login(args),
        Command::Logout => storage::logout(),
        Command::Storage(cmd) => storage::run(cmd),
        Command::Org(cmd) => org::run(cmd),
        Command::Server(args) => server::run(*args),
        Command::Admin(args) => admin::run(args),
    };
    match outcome {
        Outcome::Success => ExitCode::SUCCESS,
        Outcome::Failure => ExitCode::from(1),
        Outcome::Error => ExitCode::from(2),
        Outcome::Interrupted => ExitCode::from(130),
    }
}
