//! `fedml storage versions`, `diff` and `delete --version`: each one SDK call, shown.

use fedml_client::{Change, Target};

use crate::Outcome;
use crate::output::say;
use crate::output::{Format, emit, human_size, quoted, table};

/// `fedml storage versions NAME`: one row per version kept, newest first.
pub fn list(data_name: &str, target: &Target, output: Format) -> Outcome {
    let response = fedml_client::list_versions_with(data_name, target);
    emit(output, &response, |versions| {
        let mut t = table(&["Version", "Updated At", "Size", "Added", "Checksum", "Description"]);
        for v in versions {
            let version = if v.latest { format!("{} (latest)", v.version) } else { v.version.to_string() };
            let added = v.added_bytes.map_or_else(|| "-".to_string(), human_size);
            t.row([
                version,
                v.updated_at.clone(),
                human_size(v.size),
                added,
                short(&v.checksum),
                v.description.clone(),
            ]);
        }
        say!("{t}");
    })
}

/// `fedml storage diff NAME --from A [--to B]`: the files that differ, then a summary.
pub fn diff(data_name: &str, from: u64, to: Option<u64>, target: &Target, output: Format) -> Outcome {
    let response = fedml_client::diff_versions_with(data_name, from, to, target);
    emit(output, &response, |d| {
        let (a, b) = (d.from.version, d.to.version);
        if d.files.is_empty() {
            say!("Versions {a} and {b} of {} hold the same files.", quoted(data_name));
        } else {
            let mut t = table(&["Change", "Path", &format!("Size in {a}"), &format!("Size in {b}")]);
            for f in &d.files {
                let change = match f.change {
                    Change::Added => "added",
                    Change::Removed => "removed",
                    Change::Changed => "changed",
                };
                let path = if f.path.is_empty() { data_name.to_string() } else { f.path.clone() };
                let size = |s: Option<u64>| s.map_or_else(String::new, human_size);
                t.row([change.to_string(), path, size(f.from_size), size(f.to_size)]);
            }
            say!("{t}");
        }
        let count = |c: Change| d.files.iter().filter(|f| f.change == c).count();
        say!(
            "{} added, {} removed, {} changed, {} unchanged; the versions share {} of stored data ({} of {} in version \
             {b})",
            count(Change::Added),
            count(Change::Removed),
            count(Change::Changed),
            d.unchanged_files,
            human_size(d.shared_bytes),
            percent(d.shared_bytes, d.to.size),
            human_size(d.to.size),
        );
    })
}

/// `fedml storage delete NAME --version N`.
pub fn delete(data_name: &str, version: u64, service: Option<&str>, target: &Target, output: Format) -> Outcome {
    let response = fedml_client::delete_version_with(data_name, version, service, target);
    emit(output, &response, |d| match (d.latest, d.name_deleted) {
        (Some(latest), _) => {
            say!("Deleted version {version} of {}; version {latest} is the latest now", quoted(data_name))
        }
        (None, true) => say!("Deleted {}: version {version} was its only version", quoted(data_name)),
        (None, false) => say!("Deleted version {version} of {}", quoted(data_name)),
    })
}

/// `blake3:0123456789ab…`: enough of a checksum to tell versions apart in a table.
fn short(checksum: &str) -> String {
    match checksum.char_indices().nth(19) {
        Some((end, _)) => format!("{}…", &checksum[..end]),
        None => checksum.to_string(),
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 { "-".to_string() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}
