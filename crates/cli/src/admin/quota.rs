//! `fedml admin user quota NAME [--bytes SIZE|none|default] [--objects N|none|default]`: shows a
//! user's quota and usage, or sets the limits given first.

use fedml_platform::admin::{self, QuotaReport};
use fedml_platform::catalogue::Catalogue;
use fedml_platform::quota::{Override, objects_text, size_text};
use serde_json::{Value, json};

use super::admin_error;
use crate::Outcome;
use crate::output::say;
use crate::output::{Format, fail, json_line, table};

pub async fn run(
    format: Format,
    catalogue: &Catalogue,
    name: &str,
    bytes: Option<String>,
    objects: Option<String>,
) -> Outcome {
    let parse = |flag: &str, text: Option<String>, is_bytes: bool| -> Result<Option<Override>, String> {
        text.map(|t| Override::parse(&t, is_bytes).map_err(|e| format!("--{flag}: {e}"))).transpose()
    };
    let (bytes, objects) = match (parse("bytes", bytes, true), parse("objects", objects, false)) {
        (Ok(b), Ok(o)) => (b, o),
        (Err(e), _) | (_, Err(e)) => return fail(format, "FAILURE", &e),
    };
    let changed = bytes.is_some() || objects.is_some();
    let report = if changed {
        admin::set_quota(catalogue, name, bytes, objects).await
    } else {
        admin::quota_report(catalogue, name).await
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return admin_error(format, e),
    };
    let message = if changed { "quota set" } else { "quota and usage" };
    if format == Format::Json {
        say!("{}", json_line(&json!({"code": "SUCCESS", "message": message, "data": as_json(&report)})));
    } else {
        if changed {
            say!("quota of {} set", crate::output::quoted(&report.user_name));
        }
        say!("{}", as_table(&report));
    }
    Outcome::Success
}

/// For `fedml admin user list`: `default`, `none`, `10.00 GiB`, `5`.
pub fn setting_short(o: Override, bytes: bool) -> String {
    match o {
        Override::Default => "default".into(),
        Override::Unlimited => "none".into(),
        Override::Max(n) if bytes => size_text(n),
        Override::Max(n) => n.to_string(),
    }
}

pub fn setting_json(o: Override) -> Value {
    match o {
        Override::Default => json!("default"),
        Override::Unlimited => json!("none"),
        Override::Max(n) => json!(n),
    }
}

fn as_json(r: &QuotaReport) -> Value {
    json!({
        "user": r.user_name,
        "quotaBytes": setting_json(r.quota.bytes),
        "quotaObjects": setting_json(r.quota.objects),
        "storedBytes": r.usage.stored_bytes,
        "storedObjects": r.usage.stored_objects,
        "reservedBytes": r.usage.pending_bytes(),
        "uploadsInProgress": r.usage.uploads,
    })
}

fn setting_text(o: Override, flag: &str, show: impl Fn(u64) -> String) -> String {
    match o {
        Override::Default => format!("the server's default (fedml server --quota-{flag}; none unless set)"),
        Override::Unlimited => "no limit (this user's own)".into(),
        Override::Max(n) => format!("{} (this user's own)", show(n)),
    }
}

fn as_table(r: &QuotaReport) -> String {
    let u = &r.usage;
    let mut t = table(&["Field", "Value"]);
    t.row(["User", r.user_name.as_str()]);
    t.row([
        "Bytes limit".to_string(),
        setting_text(r.quota.bytes, "bytes", |n| format!("{} ({n} bytes)", size_text(n))),
    ]);
    t.row(["Objects limit".to_string(), setting_text(r.quota.objects, "objects", |n| n.to_string())]);
    t.row(["Stored".to_string(), format!("{} in {}", size_text(u.stored_bytes), objects_text(u.stored_objects))]);
    t.row([
        "Reserved".to_string(),
        format!(
            "{} by {} in progress",
            size_text(u.pending_bytes()),
            if u.uploads == 1 { "1 upload".to_string() } else { format!("{} uploads", u.uploads) }
        ),
    ]);
    t.to_string()
}
