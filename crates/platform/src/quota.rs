//! Quotas: per user, bytes stored and number of objects. The server's default
//! (`--quota-bytes`, `--quota-objects`; unset: no limit) applies to every user without their own
//! (`fedml admin user quota NAME --bytes …`).
//!
//! An upload is refused when its session is opened, never half-way: the session reserves what it
//! announces (see `UploadRecord::reserved_bytes`) and one object, in the transaction that records
//! it, against the objects stored plus what the user's other live sessions reserve. An overwrite
//! is credited with the object it replaces (at most what the overwrites of that name reserve, so
//! that an overwrite that is abandoned frees nothing it never held). A completion never fails for
//! quota; it may not store more than its session reserved.

/// A resolved limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Limit {
    #[default]
    Unlimited,
    Max(u64),
}

/// The server's default quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    pub bytes: Limit,
    pub objects: Limit,
}

impl Quota {
    pub fn is_unlimited(&self) -> bool {
        self.bytes == Limit::Unlimited && self.objects == Limit::Unlimited
    }
}

/// A user's own setting of one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Override {
    /// Follows the server's default.
    #[default]
    Default,
    /// No limit for this user, whatever the default.
    Unlimited,
    Max(u64),
}

impl Override {
    /// The catalogue's encoding: NULL follows the default, -1 is no limit.
    pub(crate) fn from_column(value: Option<i64>) -> Override {
        match value {
            None => Override::Default,
            Some(n) if n < 0 => Override::Unlimited,
            Some(n) => Override::Max(n as u64),
        }
    }

    pub(crate) fn to_column(self) -> Option<i64> {
        match self {
            Override::Default => None,
            Override::Unlimited => Some(-1),
            Override::Max(n) => Some(i64::try_from(n).unwrap_or(i64::MAX)),
        }
    }

    pub fn resolve(self, default: Limit) -> Limit {
        match self {
            Override::Default => default,
            Override::Unlimited => Limit::Unlimited,
            Override::Max(n) => Limit::Max(n),
        }
    }

    /// Parses `none` (no limit), `default` (the server's) or a number; sizes (`bytes`) may end
    /// in B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
    pub fn parse(text: &str, bytes: bool) -> Result<Override, String> {
        match text.trim() {
            "none" => Ok(Override::Unlimited),
            "default" => Ok(Override::Default),
            value if bytes => parse_size(value).map(Override::Max),
            value => parse_count(value).map(Override::Max),
        }
    }
}

/// A user's quota settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserQuota {
    pub bytes: Override,
    pub objects: Override,
}

impl UserQuota {
    pub fn resolve(&self, default: &Quota) -> Quota {
        Quota { bytes: self.bytes.resolve(default.bytes), objects: self.objects.resolve(default.objects) }
    }
}

/// What counts against a user's quota at one moment (one consistent read of the catalogue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes and number of the objects stored.
    pub stored_bytes: u64,
    pub stored_objects: u64,
    /// What the live upload sessions reserve: bytes, and one object each.
    pub reserved_bytes: u64,
    pub uploads: u64,
    /// What the overwrites among them will free of the objects they replace.
    pub freed_bytes: u64,
    pub freed_objects: u64,
}

impl Usage {
    /// Bytes counted against the quota: stored + reserved − freed by overwrites.
    pub fn bytes(&self) -> u64 {
        (self.stored_bytes + self.reserved_bytes).saturating_sub(self.freed_bytes)
    }

    pub fn objects(&self) -> u64 {
        (self.stored_objects + self.uploads).saturating_sub(self.freed_objects)
    }

    /// Bytes reserved by uploads in progress, net of what their overwrites free.
    pub fn pending_bytes(&self) -> u64 {
        self.bytes().saturating_sub(self.stored_bytes)
    }

    pub fn pending_objects(&self) -> u64 {
        self.objects().saturating_sub(self.stored_objects)
    }
}

/// Which limit an upload would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Bytes,
    Objects,
}

/// Why an upload session was not opened: its owner, the limit it would pass, the usage before and
/// with it. Its text is the message the uploader is shown.
#[derive(Debug, Clone)]
pub struct QuotaRefusal {
    pub user_name: String,
    pub exceeded: Exceeded,
    pub limit: u64,
    pub before: Usage,
    pub with: Usage,
}

impl std::fmt::Display for QuotaRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (user, before) = (&self.user_name, &self.before);
        match self.exceeded {
            Exceeded::Bytes => write!(
                f,
                "this upload needs {} but {user} has {} left of a {} quota ({} in {}, {} reserved by \
                 uploads in progress); delete data with `fedml storage delete NAME --namespace {user}` or ask \
                 the server admin to raise the quota (`fedml admin user quota {user} --bytes …`)",
                size_text(self.with.bytes().saturating_sub(before.bytes())),
                size_text(self.limit.saturating_sub(before.bytes())),
                size_text(self.limit),
                size_text(before.stored_bytes),
                objects_text(before.stored_objects),
                size_text(before.pending_bytes()),
            ),
            Exceeded::Objects => write!(
                f,
                "this upload needs 1 more object but {user} has {} left of a {}-object quota ({} stored, \
                 {} more reserved by uploads in progress); delete objects with `fedml storage delete NAME \
                 --namespace {user}` or ask the server admin to raise the quota (`fedml admin user quota {user} \
                 --objects …`)",
                self.limit.saturating_sub(before.objects()),
                self.limit,
                objects_text(before.stored_objects),
                before.pending_objects(),
            ),
        }
    }
}

impl QuotaRefusal {
    /// The refusal for opening a session that takes `with` over `quota`, if it does. An upload
    /// that adds nothing (an overwrite by a smaller object) is never refused, even over a quota
    /// lowered below what is stored.
    pub fn check(user_name: &str, quota: &Quota, before: Usage, with: Usage) -> Option<QuotaRefusal> {
        let refuse = |exceeded, limit| QuotaRefusal { user_name: user_name.to_string(), exceeded, limit, before, with };
        if let Limit::Max(limit) = quota.bytes
            && with.bytes() > limit
            && with.bytes() > before.bytes()
        {
            return Some(refuse(Exceeded::Bytes, limit));
        }
        if let Limit::Max(limit) = quota.objects
            && with.objects() > limit
            && with.objects() > before.objects()
        {
            return Some(refuse(Exceeded::Objects, limit));
        }
        None
    }
}

/// `1 object`, `3 objects`.
pub fn objects_text(n: u64) -> String {
    if n == 1 { "1 object".into() } else { format!("{n} objects") }
}

/// `1.50 GiB`, `512 B`.
pub fn size_text(bytes: u64) -> String {
    fedml_proto::text::size(bytes)
}

/// A whole number of bytes, optionally with a unit: `1000`, `10GiB`, `500 MB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000_u64.pow(2),
        "gb" => 1000_u64.pow(3),
        "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(size_error(text)),
    };
    let number: u64 = number.parse().map_err(|_| size_error(text))?;
    number
        .checked_mul(multiplier)
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| format!("{text:?} is more bytes than a quota can hold; give a smaller size"))
}

fn size_error(text: &str) -> String {
    format!(
        "{text:?} is not a size; give a whole number of bytes, optionally with a unit (10GiB, 500MB, 1024), or \
         none for no limit, or default for the server's"
    )
}

/// A whole, non-negative number of objects.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse::<u64>().ok().filter(|n| i64::try_from(*n).is_ok()).ok_or_else(|| {
        format!(
            "{text:?} is not a number of objects; give a whole number (0 or more), or none for no limit, or \
             default for the server's"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("500 MB"), Ok(500_000_000));
        assert_eq!(parse_size("7b"), Ok(7));
        for bad in ["", "-5", "1.5GiB", "lots", "10XB", "GiB", "99999999999999999999", "9000000TiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_count("3"), Ok(3));
        for bad in ["", "-1", "1.5", "x", "3 objects"] {
            assert!(parse_count(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Override::parse("none", true), Ok(Override::Unlimited));
        assert_eq!(Override::parse("default", false), Ok(Override::Default));
        for o in [Override::Default, Override::Unlimited, Override::Max(0), Override::Max(5)] {
            assert_eq!(Override::from_column(o.to_column()), o);
        }
    }

    #[test]
    fn refusals_only_for_uploads_that_add_past_a_limit() {
        let quota = Quota { bytes: Limit::Max(100), objects: Limit::Max(2) };
        let before = Usage { stored_bytes: 60, stored_objects: 1, ..Usage::default() };
        let fits = Usage { reserved_bytes: 40, uploads: 1, ..before };
        assert!(QuotaRefusal::check("alice", &quota, before, fits).is_none());
        let too_big = Usage { reserved_bytes: 41, uploads: 1, ..before };
        let refusal = QuotaRefusal::check("alice", &quota, before, too_big).expect("refused");
        assert_eq!(refusal.exceeded, Exceeded::Bytes);
        let text = refusal.to_string();
        assert!(text.contains("needs 41 B but alice has 40 B left of a 100 B quota (60 B in 1 object,"), "{text}");
        // Over a lowered limit, an overwrite that shrinks an object is still allowed.
        let over = Usage { stored_bytes: 150, stored_objects: 1, ..Usage::default() };
        let shrink = Usage { reserved_bytes: 10, uploads: 1, freed_bytes: 10, freed_objects: 1, ..over };
        assert!(QuotaRefusal::check("alice", &quota, over, shrink).is_none());
        let third = Usage { stored_objects: 2, uploads: 1, ..Usage::default() };
        let refusal = QuotaRefusal::check("alice", &quota, Usage { uploads: 0, ..third }, third).expect("refused");
        assert_eq!(refusal.exceeded, Exceeded::Objects);
    }
}
