//! Text that people see: which characters are invisible (and so refused in names, tags and
//! metadata keys by [`crate::rules`]), and [`visible`], which every table and message printed
//! for a person passes user text through, so that stored text can neither drive the terminal
//! (escape sequences, BEL, CR) nor hide or reorder what is shown (bidirectional controls,
//! zero-width characters). Machine output (`--output json`) keeps the exact text.

use std::borrow::Cow;
use std::fmt::Write;

/// Invisible characters with their Unicode names: bidirectional controls, zero-width and other
/// format characters, fillers that draw nothing, and the line and paragraph separators.
const NAMED: &[(char, &str)] = &[
    ('\u{00AD}', "SOFT HYPHEN"),
    ('\u{034F}', "COMBINING GRAPHEME JOINER"),
    ('\u{061C}', "ARABIC LETTER MARK"),
    ('\u{115F}', "HANGUL CHOSEONG FILLER"),
    ('\u{1160}', "HANGUL JUNGSEONG FILLER"),
    ('\u{17B4}', "KHMER VOWEL INHERENT AQ"),
    ('\u{17B5}', "KHMER VOWEL INHERENT AA"),
    ('\u{180B}', "MONGOLIAN FREE VARIATION SELECTOR ONE"),
    ('\u{180C}', "MONGOLIAN FREE VARIATION SELECTOR TWO"),
    ('\u{180D}', "MONGOLIAN FREE VARIATION SELECTOR THREE"),
    ('\u{180E}', "MONGOLIAN VOWEL SEPARATOR"),
    ('\u{180F}', "MONGOLIAN FREE VARIATION SELECTOR FOUR"),
    ('\u{200B}', "ZERO WIDTH SPACE"),
    ('\u{200C}', "ZERO WIDTH NON-JOINER"),
    ('\u{200D}', "ZERO WIDTH JOINER"),
    ('\u{200E}', "LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "RIGHT-TO-LEFT MARK"),
    ('\u{2028}', "LINE SEPARATOR"),
    ('\u{2029}', "PARAGRAPH SEPARATOR"),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2060}', "WORD JOINER"),
    ('\u{2061}', "FUNCTION APPLICATION"),
    ('\u{2062}', "INVISIBLE TIMES"),
    ('\u{2063}', "INVISIBLE SEPARATOR"),
    ('\u{2064}', "INVISIBLE PLUS"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
    ('\u{206A}', "INHIBIT SYMMETRIC SWAPPING"),
    ('\u{206B}', "ACTIVATE SYMMETRIC SWAPPING"),
    ('\u{206C}', "INHIBIT ARABIC FORM SHAPING"),
    ('\u{206D}', "ACTIVATE ARABIC FORM SHAPING"),
    ('\u{206E}', "NATIONAL DIGIT SHAPES"),
    ('\u{206F}', "NOMINAL DIGIT SHAPES"),
    ('\u{3164}', "HANGUL FILLER"),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE (byte order mark)"),
    ('\u{FFA0}', "HALFWIDTH HANGUL FILLER"),
];

/// Unicode general category Cf (format characters), Unicode 15: the code points not in
/// [`NAMED`] are refused too, under a generic description.
const FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` draws nothing or changes how the text around it is drawn: a format character
/// (category Cf: bidirectional controls, zero-width characters, the BOM, the soft hyphen, …), an
/// invisible filler or a line or paragraph separator. Control characters (Cc) are not included:
/// `char::is_control` covers them.
pub fn is_invisible(c: char) -> bool {
    NAMED.binary_search_by_key(&c, |&(n, _)| n).is_ok() || FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The first invisible character of `s`, if any.
pub fn find_invisible(s: &str) -> Option<char> {
    s.chars().find(|&c| is_invisible(c))
}

/// `U+202E RIGHT-TO-LEFT OVERRIDE`, or `U+0600 (a format character)` for those without a name here.
pub fn describe(c: char) -> String {
    match NAMED.binary_search_by_key(&c, |&(n, _)| n) {
        Ok(i) => format!("U+{:04X} {}", c as u32, NAMED[i].1),
        Err(_) => format!("U+{:04X} (a format character)", c as u32),
    }
}

/// `s` as it may be shown to a person: control characters (C0, DEL, C1) and invisible
/// characters ([`is_invisible`]) become visible escapes — `\n`, `\r`, `\t`, `\x1b`, `\x7f`,
/// `\u{9b}`, `\u{202e}` — so that nothing stored can move the cursor, clear the screen, set the
/// window title, ring the bell or make one text look like another. Everything else, backslashes
/// included, is shown as it is.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// A byte count as people read it: `512 B`, `1.50 GiB` (binary units).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.2} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_table_is_sorted_and_inside_the_invisible_set() {
        assert!(NAMED.windows(2).all(|w| w[0].0 < w[1].0), "NAMED must stay sorted for binary_search");
        assert!(FORMAT.windows(2).all(|w| w[0].1 < w[1].0) && FORMAT.iter().all(|(lo, hi)| lo <= hi));
        for &(c, name) in NAMED {
            assert!(is_invisible(c) && describe(c).contains(name), "{c:?}");
        }
    }

    #[test]
    fn invisible_characters() {
        for c in [
            '\u{061C}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{2060}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{0600}',
            '\u{E0041}',
            '\u{1D173}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', ' ', 'é', '数', '✓', '\u{3000}', '\u{FE0F}', '\u{2013}', '\u{1F600}', '\u{07}'] {
            assert!(!is_invisible(c), "{c:?}");
        }
        assert_eq!(describe('\u{202E}'), "U+202E RIGHT-TO-LEFT OVERRIDE");
        assert_eq!(describe('\u{E0041}'), "U+E0041 (a format character)");
        assert_eq!(find_invisible("invoice\u{202E}gpj.exe"), Some('\u{202E}'));
        assert_eq!(find_invisible("données 数据"), None);
    }

    #[test]
    fn visible_escapes_what_drives_or_fools_a_terminal() {
        assert!(matches!(visible("plain données ✓ \\x"), Cow::Borrowed(_)));
        assert_eq!(visible("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(visible("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
        assert_eq!(visible("cr\rlf\ntab\tdel\x7f nul\0"), "cr\\rlf\\ntab\\tdel\\x7f nul\\x00");
        assert_eq!(visible("c1\u{9b}2J"), "c1\\u{9b}2J");
        assert_eq!(visible("invoice\u{202E}gpj.exe"), "invoice\\u{202e}gpj.exe");
        assert_eq!(visible("zw\u{200B}j\u{FEFF}"), "zw\\u{200b}j\\u{feff}");
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let shown = visible(&all);
        assert!(!shown.chars().any(|c| c.is_control() || is_invisible(c)), "{shown:?}");
    }
}
