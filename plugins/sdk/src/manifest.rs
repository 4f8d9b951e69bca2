//! The compile-time check of a plugin's manifest (`komander-plugin.toml`), which
//! [`export_runtime!`](crate::export_runtime) runs on the file it embeds: the keys the host
//! reads and nothing else, a well-formed id and version, `kind = "runtime"`, and only the
//! capabilities the host knows. What it cannot see (a settings schema that is no JSON schema,
//! a connection name's spelling) the host checks at install, and `komander plugin check`
//! before it.

/// The capabilities a manifest may ask for under `[capabilities]`.
const CAPABILITIES: [&[u8]; 7] = [
    b"log",
    b"config",
    b"kv",
    b"connections",
    b"progress",
    b"docker",
    b"kubernetes",
];

/// Where a line of the manifest is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    /// Before any table: id, version, kind, min_host_version, config_schema.
    Top,
    /// Under `[capabilities]`.
    Capabilities,
}

/// Checks the manifest `text`; evaluated in a `const`, a problem is a compile error whose
/// message names it.
///
/// # Panics
/// On the first problem, at compile time.
pub const fn check(text: &[u8]) {
    let mut start = 0;
    let mut table = Table::Top;
    let mut in_multiline = false;
    let (mut id, mut version, mut kind) = (false, false, false);
    while start < text.len() {
        let end = line_end(text, start);
        let (s, e) = trim(text, start, end);
        if in_multiline {
            in_multiline = !contains(text, s, e, b"'''");
        } else if s == e || text[s] == b'#' {
            // A blank line or a comment.
        } else if text[s] == b'[' {
            if !equals(text, s, e, b"[capabilities]") {
                panic!("komander-plugin.toml: the only table a manifest has is [capabilities]");
            }
            table = Table::Capabilities;
        } else {
            let Some(at) = find(text, s, e, b'=') else {
                panic!(
                    "komander-plugin.toml: a line is neither `key = value`, a [table] nor a \
                     # comment"
                );
            };
            let (ks, ke) = trim(text, s, at);
            let (vs, ve) = trim(text, at + 1, e);
            match table {
                Table::Top => {
                    if equals(text, ks, ke, b"id") {
                        check_id(text, vs, ve);
                        id = true;
                    } else if equals(text, ks, ke, b"version") {
                        check_version(text, vs, ve);
                        version = true;
                    } else if equals(text, ks, ke, b"kind") {
                        if !equals(text, vs, ve, b"\"runtime\"") {
                            panic!(
                                "komander-plugin.toml: export_runtime! exports a runtime: \
                                 write kind = \"runtime\""
                            );
                        }
                        kind = true;
                    } else if equals(text, ks, ke, b"min_host_version") {
                        check_version(text, vs, ve);
                    } else if equals(text, ks, ke, b"config_schema") {
                        in_multiline = starts_with(text, vs, ve, b"'''")
                            && !contains(text, vs + 3, ve, b"'''");
                    } else {
                        panic!(
                            "komander-plugin.toml: an unknown key; a manifest has id, version, \
                             kind, min_host_version, config_schema and [capabilities]"
                        );
                    }
                }
                Table::Capabilities => {
                    if !known_capability(text, ks, ke) {
                        panic!(
                            "komander-plugin.toml: an unknown capability; the host offers log, \
                             config, kv, connections, progress, docker and kubernetes"
                        );
                    }
                    if !equals(text, vs, ve, b"true") && !starts_with(text, vs, ve, b"[") {
                        panic!(
                            "komander-plugin.toml: a capability is asked for with `true` (or \
                             connections with a list of names)"
                        );
                    }
                }
            }
        }
        start = end + 1;
    }
    if !id {
        panic!("komander-plugin.toml: no id, such as id = \"acme.nomad\"");
    }
    if !version {
        panic!("komander-plugin.toml: no version, such as version = \"0.1.0\"");
    }
    if !kind {
        panic!("komander-plugin.toml: no kind; write kind = \"runtime\"");
    }
}

/// An id as the host takes it: quoted, 1 to 64 of `a-z 0-9 . -`, starting with a letter.
const fn check_id(text: &[u8], s: usize, e: usize) {
    let ok = e - s >= 3 && text[s] == b'"' && text[e - 1] == b'"' && e - s - 2 <= 64;
    if !ok || !text[s + 1].is_ascii_lowercase() {
        panic!(
            "komander-plugin.toml: the id is a quoted string of 1 to 64 of a-z 0-9 . - \
             starting with a letter, such as \"acme.nomad\""
        );
    }
    let mut i = s + 1;
    while i < e - 1 {
        let c = text[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-') {
            panic!("komander-plugin.toml: the id has a character other than a-z 0-9 . -");
        }
        i += 1;
    }
}

/// A quoted semantic version: three numbers, then an optional `-pre` or `+build`.
const fn check_version(text: &[u8], s: usize, e: usize) {
    if e - s < 7 || text[s] != b'"' || text[e - 1] != b'"' {
        panic!("komander-plugin.toml: a version is a quoted semver, such as \"0.1.0\"");
    }
    let (mut i, mut parts, mut digits) = (s + 1, 1, 0);
    while i < e - 1 && text[i] != b'-' && text[i] != b'+' {
        if text[i] == b'.' {
            if digits == 0 {
                panic!("komander-plugin.toml: a version is a quoted semver, such as \"0.1.0\"");
            }
            parts += 1;
            digits = 0;
        } else if text[i].is_ascii_digit() {
            digits += 1;
        } else {
            panic!("komander-plugin.toml: a version is a quoted semver, such as \"0.1.0\"");
        }
        i += 1;
    }
    if parts != 3 || digits == 0 {
        panic!("komander-plugin.toml: a version is a quoted semver, such as \"0.1.0\"");
    }
}

/// Whether `text[s..e]` names a capability the host offers.
const fn known_capability(text: &[u8], s: usize, e: usize) -> bool {
    let mut i = 0;
    while i < CAPABILITIES.len() {
        if equals(text, s, e, CAPABILITIES[i]) {
            return true;
        }
        i += 1;
    }
    false
}

/// The index of the `\n` ending the line from `start`, or the text's length.
const fn line_end(text: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < text.len() && text[i] != b'\n' {
        i += 1;
    }
    i
}

/// `text[s..e]` without its leading and trailing whitespace, as a range.
const fn trim(text: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && text[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && text[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    (s, e)
}

/// The first `byte` in `text[s..e]`.
const fn find(text: &[u8], s: usize, e: usize, byte: u8) -> Option<usize> {
    let mut i = s;
    while i < e {
        if text[i] == byte {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether `text[s..e]` is `word`.
const fn equals(text: &[u8], s: usize, e: usize, word: &[u8]) -> bool {
    e - s == word.len() && starts_with(text, s, e, word)
}

/// Whether `text[s..e]` starts with `word`.
const fn starts_with(text: &[u8], s: usize, e: usize, word: &[u8]) -> bool {
    if e - s < word.len() {
        return false;
    }
    let mut i = 0;
    while i < word.len() {
        if text[s + i] != word[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `text[s..e]` contains `word`.
const fn contains(text: &[u8], s: usize, e: usize, word: &[u8]) -> bool {
    let mut i = s;
    while i + word.len() <= e {
        if starts_with(text, i, e, word) {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn a_malformed_manifest_is_refused_naming_the_problem() {
        let good = "id = \"acme.x\"\nversion = \"0.1.0\"\nkind = \"runtime\"\n\n[capabilities]\nlog = true\n";
        check(good.as_bytes());
        for (bad, problem) in [
            (
                good.replace("log = true", "logs = true"),
                "unknown capability",
            ),
            (good.replace("acme.x", "Acme"), "the id"),
            (good.replace("0.1.0", "1.0"), "semver"),
            (
                good.replace("\"runtime\"", "\"git-provider\""),
                "exports a runtime",
            ),
            (good.replace("kind", "knd"), "unknown key"),
            (good.replace("version = \"0.1.0\"\n", ""), "no version"),
            (good.replace("[capabilities]", "[capability]"), "only table"),
        ] {
            let refused = std::panic::catch_unwind(|| check(bad.as_bytes()))
                .expect_err(&bad)
                .downcast::<&str>()
                .map(|m| m.to_string())
                .unwrap_or_default();
            assert!(
                refused.contains(problem),
                "{problem:?} in {refused:?} for {bad}"
            );
        }
    }
}
