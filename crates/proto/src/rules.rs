//! What a valid object name, description, tag list and user-metadata map look like.
//!
//! Both sides check: the client to fail before sending a byte, the server because it trusts no
//! client. Each error message says what is wrong and what is allowed.

use std::collections::BTreeMap;

use crate::text;

pub const MAX_NAME_BYTES: usize = 1024;
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_BYTES: usize = 64;
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_KEY_BYTES: usize = 128;
pub const MAX_METADATA_VALUE_BYTES: usize = 1024;
pub const MAX_METADATA_TOTAL_BYTES: usize = 16 * 1024;

/// Checks an object name: 1–1,024 bytes of UTF-8, one or more parts separated by `/`
/// (`team/data/x.bin`, as S3 keys and paths read). No part is empty (no leading or trailing `/`,
/// no `//`) nor `.` or `..`, and none starts or ends with white space; no `\`, NUL or control
/// characters, no invisible characters (bidirectional controls, zero-width and other format
/// characters: see [`text::is_invisible`]). The name is checked as given; [`normal_name`] answers
/// the form it is stored under.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the data name is empty; give a name of 1 to {MAX_NAME_BYTES} bytes"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("the data name is {} bytes long; the limit is {MAX_NAME_BYTES} bytes", name.len()));
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not a valid data name; choose another name"));
    }
    if let Some(c) = name.chars().find(|c| *c == '\\' || c.is_control()) {
        return Err(format!(
            "the data name {name:?} contains {c:?}; names may not contain '\\', NUL or control characters \
             (a '/' separates the parts of a name, as in team/data/x.bin)"
        ));
    }
    refuse_invisible("the data name", name, "a name")?;
    if !name.contains('/') {
        if name.trim() != name {
            return Err(format!("the data name {name:?} starts or ends with white space; remove it"));
        }
        return Ok(());
    }
    if name.starts_with('/') {
        return Err(format!(
            "the data name {name:?} starts with '/'; remove it (a '/' only separates the parts of a name, as in \
             team/data/x.bin)"
        ));
    }
    if name.ends_with('/') {
        return Err(format!(
            "the data name {name:?} ends with '/'; remove it (a '/' only separates the parts of a name, as in \
             team/data/x.bin)"
        ));
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Err(format!(
                "the data name {name:?} has an empty part ('//'); put one '/' between the parts of a name"
            ));
        }
        if part == "." || part == ".." {
            return Err(format!(
                "the data name {name:?} has a '{part}' part; '.' and '..' cannot be parts of a name (write \
                 team/x.bin, not team/./x.bin or team/../x.bin)"
            ));
        }
        if part.trim() != part {
            return Err(format!(
                "the data name {name:?} has a part that starts or ends with white space ({part:?}); remove it"
            ));
        }
    }
    Ok(())
}

/// The last part of a name (`x.bin` of `team/data/x.bin`; the name itself when it has one part):
/// what a download of it is called on disk, as `aws s3 cp` names a copied key.
pub fn last_part(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The names that would be folders of `name`: each of its proper prefixes that ends before a
/// `/` (`team` and `team/data` of `team/data/x.bin`), shortest first. No object may have one of
/// these names while `name` exists, nor a name that starts with `name/`.
pub fn folders_of(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(at, _)| &name[..at])
}

/// The form of `name` that objects are stored and found under: its Unicode NFC form, checked
/// (as given and as normalised) by [`check_name`]. Names that differ only by normalisation
/// ("é" as one character, or as "e" and a combining accent, as a macOS file name gives it) look
/// the same, so they are one name: every path (upload, download, metadata, versions, edit,
/// delete, the FedML SDK's routes, the dashboard) stores and looks up this form.
pub fn normal_name(name: &str) -> Result<String, String> {
    check_name(name)?;
    let normal = nfc(name);
    if normal != name {
        check_name(&normal)?;
    }
    Ok(normal)
}

/// `text` in Unicode NFC, the form names are stored in (unchanged when it already is).
pub fn nfc(text: &str) -> String {
    if unicode_normalization::is_nfc(text) {
        return text.to_string();
    }
    unicode_normalization::UnicodeNormalization::nfc(text).collect()
}

/// Whether two names are one name once normalised (see [`normal_name`]).
pub fn same_name(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    a == b || a.nfc().eq(b.nfc())
}

pub fn check_description(description: &str) -> Result<(), String> {
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(format!(
            "the description is {} bytes long; the limit is {MAX_DESCRIPTION_BYTES} bytes",
            description.len()
        ));
    }
    if description.contains('\0') {
        return Err("the description contains a NUL character; remove it".into());
    }
    Ok(())
}

pub fn check_tags(tags: &[String]) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("{} tags given; the limit is {MAX_TAGS}", tags.len()));
    }
    for tag in tags {
        if tag.is_empty() || tag.len() > MAX_TAG_BYTES {
            return Err(format!("tag {tag:?} must be 1 to {MAX_TAG_BYTES} bytes long"));
        }
        if tag.chars().any(|c| c == ',' || c.is_control()) || tag.trim() != tag {
            return Err(format!("tag {tag:?} may not contain commas, control characters or surrounding white space"));
        }
        refuse_invisible("tag", tag, "a tag")?;
    }
    Ok(())
}

pub fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), String> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(format!("the metadata has {} entries; the limit is {MAX_METADATA_ENTRIES}", metadata.len()));
    }
    let mut total = 0;
    for (key, value) in metadata {
        if key.is_empty() || key.len() > MAX_METADATA_KEY_BYTES {
            return Err(format!("metadata key {key:?} must be 1 to {MAX_METADATA_KEY_BYTES} bytes long"));
        }
        if key.chars().any(char::is_control) {
            return Err(format!("metadata key {key:?} contains a control character"));
        }
        refuse_invisible("metadata key", key, "a key")?;
        if value.len() > MAX_METADATA_VALUE_BYTES {
            return Err(format!(
                "the value of metadata key {key:?} is {} bytes long; the limit is {MAX_METADATA_VALUE_BYTES}",
                value.len()
            ));
        }
        if value.contains('\0') {
            return Err(format!("the value of metadata key {key:?} contains a NUL character"));
        }
        total += key.len() + value.len();
    }
    if total > MAX_METADATA_TOTAL_BYTES {
        return Err(format!(
            "the metadata holds {total} bytes of keys and values; the limit is {MAX_METADATA_TOTAL_BYTES}"
        ));
    }
    Ok(())
}

/// Refuses text that holds an invisible character, naming it: such a name shows as another one
/// (`invoice\u{202E}gpj.exe` reads "invoiceexe.jpg"), or two names look the same.
fn refuse_invisible(what: &str, s: &str, a_thing: &str) -> Result<(), String> {
    match text::find_invisible(s) {
        None => Ok(()),
        Some(c) => Err(format!(
            "{what} {s:?} contains {}, an invisible character that makes {a_thing} display as another; remove it",
            text::describe(c)
        )),
    }
}

/// Parses user metadata given as JSON text: an object whose keys and values are all strings.
pub fn parse_metadata_json(text: &str) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!("the metadata is not valid JSON ({e}); give an object such as '{{\"key\": \"value\"}}'")
    })?;
    metadata_from_json(&value)
}

/// Converts a JSON value into user metadata, refusing anything but an object of strings.
pub fn metadata_from_json(value: &serde_json::Value) -> Result<BTreeMap<String, String>, String> {
    let object = value
        .as_object()
        .ok_or_else(|| "the metadata must be a JSON object such as {\"key\": \"value\"}".to_string())?;
    let mut map = BTreeMap::new();
    for (key, value) in object {
        match value {
            serde_json::Value::String(s) => {
                map.insert(key.clone(), s.clone());
            }
            other => {
                return Err(format!(
                    "metadata value of key {key:?} is {other}; both keys and values have to be strings"
                ));
            }
        }
    }
    check_metadata(&map)?;
    Ok(map)
}

/// Splits a comma-separated tag list (`-t a,b`), dropping empty items and duplicates.
pub fn parse_tag_list(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("model-v1.bin").is_ok());
        assert!(check_name("données 数据").is_ok());
        for bad in ["", ".", "..", "a\\b", "a\0b", "a\nb", " a", "a "] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_name(&"x".repeat(1024)).is_ok());
        let long = check_name(&"x".repeat(1025)).expect_err("1,025 bytes");
        assert!(long.contains("1025 bytes long") && long.contains("limit is 1024"), "{long}");
    }

    #[test]
    fn names_are_parts_separated_by_slashes() {
        for ok in
            ["a/b", "team/data/x.bin", "a/.b/c..", "数据/données 1/é", "a/b c/d", &format!("{}/x", "y".repeat(1000))]
        {
            assert!(check_name(ok).is_ok(), "{ok:?} refused: {:?}", check_name(ok));
        }
        let said = |bad: &str| check_name(bad).expect_err(bad);
        assert!(said("/a").contains("starts with '/'; remove it"), "{}", said("/a"));
        assert!(said("a/").contains("ends with '/'; remove it"), "{}", said("a/"));
        assert!(said("/").contains("starts with '/'"), "{}", said("/"));
        assert!(said("a//b").contains("empty part ('//')"), "{}", said("a//b"));
        for dots in ["a/./b", "a/../b", "./a", "a/..", "../a"] {
            assert!(said(dots).contains("cannot be parts of a name"), "{dots}: {}", said(dots));
        }
        assert!(said("a/ b").contains("starts or ends with white space (\" b\")"), "{}", said("a/ b"));
        assert!(said("a /b").contains("white space"), "{}", said("a /b"));
        assert!(said("a/b\\c").contains("'\\'"), "{}", said("a/b\\c"));
        assert!(said("a/\u{202E}b").contains("invisible"), "{}", said("a/\u{202E}b"));
        assert_eq!(last_part("team/data/x.bin"), "x.bin");
        assert_eq!(last_part("x.bin"), "x.bin");
        assert_eq!(folders_of("team/data/x.bin").collect::<Vec<_>>(), ["team", "team/data"]);
        assert_eq!(folders_of("x").count(), 0);
    }

    #[test]
    fn names_are_normalised_to_nfc() {
        let composed = "caf\u{e9}";
        let decomposed = "cafe\u{301}";
        assert_ne!(composed, decomposed);
        assert_eq!(normal_name(decomposed).as_deref(), Ok(composed));
        assert_eq!(normal_name(composed).as_deref(), Ok(composed));
        assert!(same_name(composed, decomposed) && same_name(decomposed, decomposed));
        assert!(!same_name("cafe", composed));
        // Hangul syllables and their jamo, and an accent that composes with nothing.
        assert_eq!(normal_name("\u{1100}\u{1161}").as_deref(), Ok("\u{ac00}"));
        assert_eq!(normal_name("x\u{301}").as_deref(), Ok("x\u{301}"));
        // The rules hold for what is stored: a name refused as given is refused normalised too.
        assert!(normal_name(" e\u{301}").is_err() && normal_name("").is_err());
        // A name whose normal form would be longer than the limit (U+0958 decomposes under NFC).
        let long = "\u{958}".repeat(341);
        assert!(check_name(&long).is_ok() && normal_name(&long).is_err(), "{} bytes", long.len());
    }

    #[test]
    fn invisible_characters_are_refused_in_names_tags_and_keys_and_named() {
        let bad = [
            '\u{061C}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{0600}',
            '\u{FFF9}',
            '\u{E0001}',
            '\u{2028}',
        ];
        for c in bad {
            let s = format!("a{c}b");
            let code = format!("U+{:04X}", c as u32);
            let name = check_name(&s).expect_err(&code);
            assert!(name.contains(&code) && name.contains("invisible") && name.contains("remove it"), "{name}");
            let tag = check_tags(std::slice::from_ref(&s)).expect_err(&code);
            assert!(tag.contains(&code), "{tag}");
            let key = check_metadata(&BTreeMap::from([(s.clone(), "v".to_string())])).expect_err(&code);
            assert!(key.contains(&code), "{key}");
            // Descriptions and metadata values may hold them (they are escaped when shown).
            assert!(check_description(&s).is_ok());
            assert!(check_metadata(&BTreeMap::from([("k".to_string(), s.clone())])).is_ok());
        }
        let message = check_name("invoice\u{202E}gpj.exe").expect_err("RLO");
        assert!(message.contains("U+202E RIGHT-TO-LEFT OVERRIDE"), "{message}");
        assert!(!message.contains('\u{202E}'), "the message quotes the name escaped: {message}");
        // Ordinary non-ASCII text stays allowed, emoji with their variation selector too.
        for ok in ["données 数据", "Ünïcödé-✓", "مرحبا", "❤\u{FE0F} data", "naïve\u{0301}"] {
            assert!(check_name(ok).is_ok(), "{ok:?}");
            assert!(check_tags(&[ok.to_string()]).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn metadata() {
        let ok = parse_metadata_json(r#"{"k": "v", "ü": ""}"#).expect("valid");
        assert_eq!(ok.get("k").map(String::as_str), Some("v"));
        assert!(parse_metadata_json(r#"{"k": 1}"#).is_err());
        assert!(parse_metadata_json(r#"["k"]"#).is_err());
        assert!(parse_metadata_json("{").is_err());
        assert!(parse_metadata_json(&format!(r#"{{"k": "{}"}}"#, "v".repeat(2000))).is_err());
        let big: BTreeMap<String, String> = (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_metadata(&big).is_err());
    }

    #[test]
    fn tags() {
        assert_eq!(parse_tag_list(" a, b,,a "), vec!["a".to_string(), "b".to_string()]);
        assert!(check_tags(&["ok".into()]).is_ok());
        assert!(check_tags(&["".into()]).is_err());
        assert!(check_tags(&vec!["t".to_string(); 33]).is_err());
    }
}
