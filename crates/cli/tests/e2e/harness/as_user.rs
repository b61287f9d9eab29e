//! The real `fedml` binary run as one user of a test server: their key and the server's URL in
//! the environment, a private config directory.

use std::path::Path;
use std::process::{Command, Output};

pub struct As<'a> {
    pub key: String,
    pub url: &'a str,
    pub config: &'a Path,
}

impl As<'_> {
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Output {
        Command::new(env!("CARGO_BIN_EXE_fedml"))
            .env("FEDML_CONFIG_DIR", self.config)
            .env("FEDML_API_KEY", &self.key)
            .env("FEDML_SERVER_URL", self.url)
            .args(args)
            .output()
            .expect("run fedml")
    }

    /// Runs a command that must succeed; answers its stdout.
    pub fn ok<S: AsRef<std::ffi::OsStr>>(&self, args: impl IntoIterator<Item = S>) -> String {
        let out = self.run(args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "exit {:?}\nstdout: {stdout}\nstderr: {stderr}", out.status.code());
        stdout
    }

    /// Runs a command that must be refused (exit 1, a FAILURE); answers its stderr.
    pub fn refused<S: AsRef<std::ffi::OsStr>>(&self, args: impl IntoIterator<Item = S>) -> String {
        let out = self.run(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
        assert!(stderr.contains("FAILURE"), "{stderr}");
        stderr
    }

    /// Runs a command with `-o json`; answers the envelope.
    pub fn json<S: AsRef<str>>(&self, args: impl IntoIterator<Item = S>) -> serde_json::Value {
        let mut all: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
        all.extend(["-o".to_string(), "json".to_string()]);
        let out = self.run(&all);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", text(&out)))
    }
}

/// A finished command's stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}
