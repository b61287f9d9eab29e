//! Names, descriptions, tags and user metadata (crates/proto/src/rules.rs) and how text is shown
//! (crates/proto/src/text.rs): no input panics, and whatever the rules accept keeps the promises
//! they make.

#![no_main]

use std::collections::BTreeMap;
use std::path::{Component, Path};

use fedml_proto::{rules, text};
use libfuzzer_sys::fuzz_target;

/// Undoes `encode_path_segment`: `%XX` escapes, everything else verbatim.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("two hex digits after %");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn check_name(s: &str) {
    // The stored form of a name is a name the rules accept, and its own stored form.
    if let Ok(normal) = rules::normal_name(s) {
        assert!(rules::check_name(&normal).is_ok() && rules::same_name(s, &normal), "{s:?} -> {normal:?}");
        assert_eq!(rules::normal_name(&normal).as_deref(), Ok(normal.as_str()), "{s:?}");
    }
    let Ok(()) = rules::check_name(s) else { return };
    assert!(!s.is_empty() && s.len() <= rules::MAX_NAME_BYTES, "length of {s:?}");
    assert!(s != "." && s != "..", "{s:?}");
    assert!(!s.contains(['\\', '\0']), "{s:?} holds a backslash or NUL");
    assert!(!s.chars().any(char::is_control), "{s:?} holds a control character");
    // Parts separated by '/': none empty, none '.' or '..', none with surrounding white space.
    for part in s.split('/') {
        assert!(!part.is_empty() && part != "." && part != "..", "{s:?} has the part {part:?}");
        assert_eq!(part.trim(), part, "{s:?} has a part with surrounding white space");
    }
    // Nothing invisible: no bidirectional control, zero-width or other format character that
    // would make the name display as another.
    assert_eq!(text::find_invisible(s), None, "{s:?} holds an invisible character");
    // As a relative path it is its parts, each a plain component: it cannot climb, start at the
    // root or hide a part; its last part, where a download lands, is one plain component.
    let components: Vec<_> = Path::new(s).components().collect();
    let parts: Vec<&str> = s.split('/').collect();
    assert_eq!(components.len(), parts.len(), "{s:?}: {components:?}");
    for (component, part) in components.iter().zip(&parts) {
        assert!(matches!(component, Component::Normal(c) if c.to_str() == Some(part)), "{s:?}: {components:?}");
    }
    let last = rules::last_part(s);
    assert!(matches!(Path::new(last).components().collect::<Vec<_>>().as_slice(), [Component::Normal(c)] if c.to_str() == Some(last)), "{s:?}");
    // Each folder it implies is a name the rules accept.
    for folder in rules::folders_of(s) {
        assert!(rules::check_name(folder).is_ok(), "{s:?} implies the folder {folder:?}");
    }
    // Percent-encoded, it is one URL path segment of unreserved characters and escapes, and
    // decodes back to itself.
    let encoded = fedml_proto::encode_path_segment(s);
    assert!(
        encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)),
        "{s:?} encodes to {encoded:?}"
    );
    assert_eq!(percent_decode(&encoded), s.as_bytes(), "{s:?} does not round-trip through {encoded:?}");
}

fn check_tags(s: &str) {
    let tags = rules::parse_tag_list(s);
    for (i, tag) in tags.iter().enumerate() {
        assert!(!tag.is_empty() && !tag.contains(','), "{tag:?} from {s:?}");
        assert_eq!(tag.trim(), tag, "{tag:?} from {s:?} is not trimmed");
        assert!(!tags[..i].contains(tag), "{tag:?} twice from {s:?}");
    }
    // Parsing what the list reads as is a fixed point.
    assert_eq!(rules::parse_tag_list(&tags.join(",")), tags, "from {s:?}");
    if rules::check_tags(&tags).is_ok() {
        assert!(tags.len() <= rules::MAX_TAGS);
        assert!(tags.iter().all(|t| t.len() <= rules::MAX_TAG_BYTES && !t.chars().any(char::is_control)));
        assert!(tags.iter().all(|t| text::find_invisible(t).is_none()), "{tags:?} holds an invisible character");
    }
}

fn check_metadata(s: &str) {
    let Ok(map) = rules::parse_metadata_json(s) else { return };
    assert!(rules::check_metadata(&map).is_ok(), "parsed metadata fails its own check: {map:?}");
    assert!(map.len() <= rules::MAX_METADATA_ENTRIES);
    let total: usize = map.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(total <= rules::MAX_METADATA_TOTAL_BYTES);
    for (k, v) in &map {
        assert!(!k.is_empty() && k.len() <= rules::MAX_METADATA_KEY_BYTES && !k.chars().any(char::is_control));
        assert_eq!(text::find_invisible(k), None, "metadata key {k:?} holds an invisible character");
        assert!(v.len() <= rules::MAX_METADATA_VALUE_BYTES && !v.contains('\0'));
    }
    // What was accepted survives a trip through JSON unchanged.
    let text = serde_json::to_string(&map).expect("serialise");
    let again: BTreeMap<String, String> = rules::parse_metadata_json(&text).expect("accepted twice");
    assert_eq!(again, map);
}

/// What people are shown of any text holds no control or invisible character, and is the text
/// itself when there was none.
fn check_visible(s: &str) {
    let shown = text::visible(s);
    assert!(!shown.chars().any(|c| c.is_control() || text::is_invisible(c)), "{s:?} shows as {shown:?}");
    if !s.chars().any(|c| c.is_control() || text::is_invisible(c)) {
        assert_eq!(shown, s);
    }
}

fuzz_target!(|data: &[u8]| {
    let lossy = String::from_utf8_lossy(data);
    let s: &str = &lossy;
    check_visible(s);
    check_name(s);
    let _ = rules::check_description(s);
    check_tags(s);
    check_metadata(s);
    // Also every line on its own, so that short names and tags are reached from longer inputs.
    for line in s.lines().take(16) {
        check_name(line);
        check_tags(line);
    }
});
