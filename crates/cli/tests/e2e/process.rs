//! The real `fedml server` process for the black-box tests that need one of their own (to kill
//! it, signal it, limit it or run two): start, address, SIGKILL and SIGTERM; the admin key its
//! first start wrote; a scratch directory kept for its logs when a test fails.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fedml_client::Target;

/// A `fedml server` child process. Dropping it kills it (SIGKILL).
pub struct ServerProcess {
    child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Starts `fedml server <flags>` (on `--listen 127.0.0.1:0` unless the flags say where),
    /// appending its log to `log`, and waits until it listens.
    pub fn start(flags: &[String], log: &Path) -> ServerProcess {
        Self::start_with(flags, log, |_| {})
    }

    /// [`ServerProcess::start`] with a hook to adjust the command (environment, limits).
    pub fn start_with(flags: &[String], log: &Path, adjust: impl FnOnce(&mut Command)) -> ServerProcess {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("server log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_fedml"));
        command.arg("server").args(flags);
        // A port of its own unless the flags give one.
        if !flags.iter().any(|f| f == "--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command
            .env("FEDML_LOG", "info,fedml_server=debug")
            .env_remove("FEDML_SERVER_CONFIG")
            .env_remove("FEDML_LISTEN")
            .env_remove("FEDML_DATA_DIR")
            .env_remove("FEDML_DATABASE_URL")
            .env_remove("FEDML_PUBLIC_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        adjust(&mut command);
        let mut child = command.spawn().expect("spawn fedml server");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("FedML storage server listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => ServerProcess { child, url },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
            }
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, no flush, nothing finished.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn target(&self, key: &str) -> Target {
        Target {
            api_key: Some(key.to_string()),
            server: Some(self.url.clone()),
            parallel: Some(3),
            ..Target::default()
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit, at most `within`: its exit status, or
    /// `None` if it was still running then (it is killed on drop).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// The admin key the first start wrote into the data directory.
pub fn admin_key(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join(fedml_platform::admin::ADMIN_KEY_FILE))
        .expect("the first start writes the admin key")
        .trim()
        .to_string()
}

/// A scratch directory kept (and named) when the test fails, for its server logs.
pub struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(Some(tempfile::tempdir().expect("tmp")))
    }

    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("scratch").path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!("kept for diagnosis (server logs): {}", dir.keep().display());
        }
    }
}
