//! The `.env` file format of the Compose specification: `VAR=VAL` lines, `#` comments, values
//! unquoted (interpolated, a ` #` starts a comment), double-quoted (interpolated, with `\n`,
//! `\t`, `\r`, `\\` and `\"` escapes) or single-quoted (literal). A bare `VAR` leaves it unset.

use crate::interpolate::{InterpolationError, Variables, interpolate};

/// Why a line of a `.env` file does not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFileError {
    /// The line (1-based).
    pub line: usize,
    /// The variable, when the line names one.
    pub name: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Reads `text` on top of `vars` (which it may refer to and which win over it, as the shell's
/// variables do in Compose).
///
/// # Errors
/// The first line that is not `VAR[=[VAL]]` with a valid name and value.
pub fn read(text: &str, vars: &Variables) -> Result<Variables, EnvFileError> {
    let mut out = Variables::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let trimmed = trimmed
            .strip_prefix("export ")
            .unwrap_or(trimmed)
            .trim_start();
        let (name, value) = match trimmed.split_once('=') {
            Some((name, value)) => (name.trim_end(), Some(value.trim_start())),
            None => (trimmed, None),
        };
        let fail = |message: String| EnvFileError {
            line,
            name: Some(name.to_owned()),
            message,
        };
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '$') {
            return Err(fail(format!("{name:?} is not a variable name")));
        }
        let Some(value) = value else { continue };
        // The file's own earlier lines, under the caller's variables.
        let mut scope = out.clone();
        scope.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        let value = parse_value(value, &scope).map_err(fail)?;
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}

fn parse_value(value: &str, scope: &Variables) -> Result<String, String> {
    let described = |e: InterpolationError| match e {
        InterpolationError::Invalid(expr) => format!("invalid interpolation {expr:?}"),
        InterpolationError::Required { name, message } => {
            format!("required variable {name} is missing: {message}")
        }
    };
    if let Some(body) = value.strip_prefix('\'') {
        let end = closing_quote(body, '\'').ok_or("unclosed single quote")?;
        return Ok(body[..end].replace("\\'", "'"));
    }
    if let Some(body) = value.strip_prefix('"') {
        let end = closing_quote(body, '"').ok_or("unclosed double quote")?;
        let mut unescaped = String::with_capacity(end);
        let mut chars = body[..end].chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                unescaped.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => unescaped.push('\n'),
                Some('t') => unescaped.push('\t'),
                Some('r') => unescaped.push('\r'),
                Some(other @ ('\\' | '"' | '\'')) => unescaped.push(other),
                Some(other) => {
                    unescaped.push('\\');
                    unescaped.push(other);
                }
                None => unescaped.push('\\'),
            }
        }
        return interpolate(&unescaped, scope).map_err(described);
    }
    let value = match value.find(" #") {
        Some(at) => &value[..at],
        None => value,
    };
    interpolate(value.trim_end(), scope).map_err(described)
}

/// The index of the unescaped `quote` ending a quoted value.
fn closing_quote(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == quote => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/peers/compose/compose-go");
        std::fs::read_to_string(dir.join(path)).unwrap()
    }

    #[test]
    fn the_compose_go_env_fixtures_read_with_later_lines_winning() {
        let vars = read(&fixture("loader/example1.env"), &Variables::new()).unwrap();
        assert_eq!(vars["FOO"], "foo_from_env_file");
        assert_eq!(vars["ENV.WITH.DOT"], "ok");
        assert_eq!(vars["BAR"], "bar_from_env_file");
        let vars = read(&fixture("loader/example2.env"), &Variables::new()).unwrap();
        assert_eq!(vars["BAR"], "bar_from_env_file_2");
        let vars = read(
            &fixture("cli/testdata/env-file/override.env"),
            &Variables::new(),
        )
        .unwrap();
        assert_eq!(vars["PORT"], "9000");
    }

    #[test]
    fn quoting_comments_and_escapes_follow_the_specification() {
        let text = "A=VAL # comment\nB=VAL# not a comment\nC=\"VAL # not a comment\" # c\n\
                    D='$OTHER'\nE=\"some\\tvalue\"\nF='some\\tvalue'\nG=some\\tvalue\n\
                    H='Let\\'s go!'\nI=\"{\\\"hello\\\": \\\"json\\\"}\"\nJ=\nK\nL=${A}-x\n";
        let vars = read(text, &Variables::new()).unwrap();
        assert_eq!(vars["A"], "VAL");
        assert_eq!(vars["B"], "VAL# not a comment");
        assert_eq!(vars["C"], "VAL # not a comment");
        assert_eq!(vars["D"], "$OTHER");
        assert_eq!(vars["E"], "some\tvalue");
        assert_eq!(vars["F"], "some\\tvalue");
        assert_eq!(vars["G"], "some\\tvalue");
        assert_eq!(vars["H"], "Let's go!");
        assert_eq!(vars["I"], "{\"hello\": \"json\"}");
        assert_eq!(vars["J"], "");
        assert!(!vars.contains_key("K"), "a bare name stays unset");
        assert_eq!(vars["L"], "VAL-x");
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number() {
        let err = read("A=1\nB=\"open\n", &Variables::new()).unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.name.as_deref(), Some("B"));
    }
}
