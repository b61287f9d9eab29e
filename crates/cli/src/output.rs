//! How results look: tables for people, `--output json` (the `{code, message, data}` envelope)
//! for scripts. Messages go to stderr, data to stdout.

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use fedml_client::{FedMLResponse, ObjectMeta, ResponseCode};
use serde_json::json;

use crate::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    t
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.2} {}", UNITS[unit]) }
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
        eprintln!("{}", response.message);
        return Outcome::Interrupted;
    }
    match format {
        Format::Json => {
            let value = json!({"code": response.code, "message": response.message, "data": response.data});
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        }
        Format::Table => match (&response.code, &response.data) {
            (ResponseCode::Success, Some(data)) => show(data),
            _ => eprintln!("{}: {}", response.code, response.message),
        },
    }
    outcome(response.code)
}

pub fn metadata_table(meta: &ObjectMeta) -> Table {
    let mut t = table(&["Field", "Value"]);
    t.add_row(vec!["Data Name", &meta.data_name]);
    t.add_row(vec!["Description", &meta.description]);
    t.add_row(vec!["Kind", meta.kind.as_str()]);
    t.add_row(vec!["Service", &meta.service]);
    t.add_row(vec!["Size".to_string(), format!("{} ({} bytes)", human_size(meta.size), meta.size)]);
    t.add_row(vec!["Tags".to_string(), meta.tags.join(", ")]);
    t.add_row(vec!["Checksum", &meta.checksum]);
    t.add_row(vec!["Created At", &meta.created_at]);
    t.add_row(vec!["Updated At", &meta.updated_at]);
    t
}
