//! `fedml storage share`, `shares` and `unshare`: links that download stored data with no key.

use crate::Outcome;
use crate::output::say;
use crate::output::{emit, fail, quoted, table, visible};
use crate::storage::Common;

/// `fedml storage share NAME [--version N] [--expires 7d]`: the link on stdout (alone on its
/// line, so `curl -O "$(fedml storage share NAME)"` works), what it is on stderr.
pub fn share(data_name: &str, version: Option<u64>, expires: Option<&str>, common: &Common) -> Outcome {
    let expires_in = match expires.map(fedml_client::parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => return fail(common.output(), "FAILURE", &format!("--expires: {}", e.message())),
    };
    if version == Some(0) {
        return fail(
            common.output(),
            "FAILURE",
            "--version: versions are numbered from 1 (`fedml storage versions NAME`)",
        );
    }
    let response = fedml_client::share(data_name, None, version, expires_in, &common.target(None));
    emit(common.output(), &response, |new| {
        let which = match new.share.version {
            Some(v) => format!("version {v} of {}", quoted(&new.share.name)),
            None => format!("{} (its latest version when the link is used)", quoted(&new.share.name)),
        };
        eprintln!(
            "Link {} to {which} in {}, valid until {}; shown only now (`fedml storage unshare {}` ends it):",
            visible(&new.share.id),
            quoted(&new.share.namespace),
            visible(&new.share.expires_at),
            visible(&new.share.id)
        );
        say!("{}", visible(&new.url));
    })
}

/// `fedml storage shares`: the live links of the namespace.
pub fn list(common: &Common) -> Outcome {
    let response = fedml_client::shares(None, &common.target(None));
    emit(common.output(), &response, |links| {
        if links.is_empty() {
            let ns = common.namespace().map(|ns| format!(" of {}", quoted(ns))).unwrap_or_default();
            say!("No live links{ns}; `fedml storage share NAME` makes one.");
            return;
        }
        let mut t = table(&["Id", "Name", "Version", "Created By", "Created At", "Expires At", "Uses"]);
        for l in links {
            t.row([
                l.id.clone(),
                l.name.clone(),
                l.version.map_or_else(|| "latest".to_string(), |v| v.to_string()),
                l.created_by.clone(),
                l.created_at.clone(),
                l.expires_at.clone(),
                l.uses.to_string(),
            ]);
        }
        say!("{t}");
    })
}

/// `fedml storage unshare ID`.
pub fn unshare(id: &str, common: &Common) -> Outcome {
    let response = fedml_client::unshare(id, &common.target(None));
    emit(common.output(), &response, |_| say!("Link {} ended; it no longer downloads anything.", visible(id)))
}
