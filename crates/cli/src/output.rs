//! How results look: tables for people, `--output json` (the `{code, message, data}` envelope)
//! for scripts. Messages go to stderr, data to stdout.
//!
//! Everything shown to a person that holds stored or server-sent text goes through
//! [`visible`] (table cells through [`TextTable`], messages through [`message`] and
//! [`quoted`]): control and invisible characters appear as escapes (`\x1b`, `\r`, `\u{202e}`)
//! instead of driving the terminal. `--output json` keeps the exact text.

use std::fmt;

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use fedml_client::{FedMLResponse, ObjectMeta, ResponseCode};
use serde_json::json;

pub use fedml_proto::text::visible;

use crate::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// A table for people whose cells are always shown through [`visible`].
pub struct TextTable(Table);

impl TextTable {
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.0.add_row(cells.into_iter().map(|c| visible(c.as_ref()).into_owned()).collect::<Vec<_>>());
    }
}

impl fmt::Display for TextTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

pub fn table(header: &[&str]) -> TextTable {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    TextTable(t)
}

/// JSON text safe to print on a terminal and exactly the same data: serde already escapes C0
/// controls inside strings; DEL, C1 controls and invisible characters (which it writes raw)
/// become `\uXXXX` escapes too. Such characters occur only inside strings, so the JSON parses
/// to the same values.
fn terminal_safe_json(text: String) -> String {
    if !text.chars().any(|c| (c.is_control() && c != '\n') || fedml_proto::text::is_invisible(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 32);
    for c in text.chars() {
        if (c.is_control() && c != '\n') || fedml_proto::text::is_invisible(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `--output json` text of `value` on one line.
pub fn json_line(value: &serde_json::Value) -> String {
    terminal_safe_json(value.to_string())
}

/// `--output json` text of `value`, indented.
pub fn json_pretty(value: &serde_json::Value) -> String {
    terminal_safe_json(serde_json::to_string_pretty(value).unwrap_or_default())
}

/// `"name"`, shown through [`visible`].
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", visible(s))
}

/// A `CODE: message` line for stderr, the message shown through [`visible`] (server messages
/// quote what was sent).
pub fn message(code: impl fmt::Display, text: &str) -> String {
    format!("{code}: {}", visible(text))
}

pub fn human_size(bytes: u64) -> String {
    fedml_proto::text::size(bytes)
}

pub fn outcome(code: ResponseCode) -> Outcome {
    match code {
        ResponseCode::Success => Outcome::Success,
        ResponseCode::Failure => Outcome::Failure,
        ResponseCode::Error => Outcome::Error,
    }
}

/// Prints a response: JSON as is, or the message (and `show(data)` on success) for people.
pub fn emit<T: serde::Serialize>(format: Format, response: &FedMLResponse<T>, show: impl FnOnce(&T)) -> Outcome {
    if response.message.contains("cancelled") && response.code != ResponseCode::Success {
        eprintln!("{}", visible(&response.message));
        return Outcome::Interrupted;
    }
    match format {
        Format::Json => {
            let value = json!({"code": response.code, "message": response.message, "data": response.data});
            say!("{}", json_pretty(&value));
        }
        Format::Table => match (&response.code, &response.data) {
            (ResponseCode::Success, Some(data)) => show(data),
            _ => eprintln!("{}", message(response.code, &response.message)),
        },
    }
    outcome(response.code)
}

pub fn metadata_table(meta: &ObjectMeta) -> TextTable {
    let mut t = table(&["Field", "Value"]);
    t.row(["Data Name", &meta.data_name]);
    t.row(["Description", &meta.description]);
    t.row(["Kind", meta.kind.as_str()]);
    t.row(["Service", &meta.service]);
    t.row(["Size".to_string(), format!("{} ({} bytes)", human_size(meta.size), meta.size)]);
    t.row(["Tags".to_string(), meta.tags.join(", ")]);
    t.row(["Checksum", &meta.checksum]);
    t.row(["Version".to_string(), meta.version.to_string()]);
    t.row(["Created At", &meta.created_at]);
    t.row(["Updated At", &meta.updated_at]);
    t
}

/// Says a command failed, in the output format (an envelope line for `--output json`, else a
/// message on stderr), and answers the outcome its code means.
pub fn fail(format: Format, code: &str, text: &str) -> Outcome {
    if format == Format::Json {
        say!("{}", json_line(&json!({"code": code, "message": text, "data": null})));
    } else {
        eprintln!("{}", message(code, text));
    }
    if code == "FAILURE" { Outcome::Failure } else { Outcome::Error }
}

/// Prints a line on stdout (`println!`'s arguments). See [`print_line`].
macro_rules! say {
    () => {
        $crate::output::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Writes one line on stdout. A reader that stopped early (`fedml storage ls NAME | head`) ends
/// the command as it ends other tools: quietly, by SIGPIPE. Only stdout does that: SIGPIPE stays
/// ignored for the rest of the process, so a connection a server or a store closes while a
/// request is still being sent (an early refusal) is an error the client reports and handles,
/// never a silent death half-way through a transfer.
pub fn print_line(line: fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}")
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        #[cfg(unix)]
        // SAFETY: the default disposition restored, then the signal raised on this thread: the
        // process ends as a tool that never ignored SIGPIPE would.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
        std::process::exit(141);
    }
}
