//! Variable interpolation as the Compose specification defines it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alternative}`,
//! `${VAR+alternative}`, with defaults, errors and alternatives interpolated in turn (nested),
//! and `$$` for a literal `$`. A `$` followed by anything else is kept as written.

use std::collections::BTreeMap;

/// Why a value does not interpolate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${...}` that is not one of the forms above (unclosed, empty, `${VAR/a/b}`…).
    Invalid(String),
    /// `${VAR:?message}` or `${VAR?message}` met an unset (or empty) variable.
    Required {
        /// The variable.
        name: String,
        /// The file's message.
        message: String,
    },
}

/// The variables a file is interpolated with, by name.
pub type Variables = BTreeMap<String, String>;

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// `text` with its variables replaced. An unset variable without a default is empty, as in
/// Compose (which warns).
///
/// # Errors
/// [`InterpolationError`] naming the bad expression or the required variable.
pub fn interpolate(text: &str, vars: &Variables) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body)
                .ok_or_else(|| InterpolationError::Invalid(format!("${{{body}")))?;
            out.push_str(&braced(&body[..end], vars)?);
            rest = &body[end + 1..];
        } else if after.starts_with(is_name_start) {
            let end = after.find(|c| !is_name(c)).unwrap_or(after.len());
            out.push_str(vars.get(&after[..end]).map_or("", String::as_str));
            rest = &after[end..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing a `${`, counting nested `${`, or `None`.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of `${body}`.
fn braced(body: &str, vars: &Variables) -> Result<String, InterpolationError> {
    let invalid = || InterpolationError::Invalid(format!("${{{body}}}"));
    let name_end = body.find(|c| !is_name(c)).unwrap_or(body.len());
    let name = &body[..name_end];
    if !name.starts_with(is_name_start) {
        return Err(invalid());
    }
    let value = vars.get(name);
    let operator = &body[name_end..];
    if operator.is_empty() {
        return Ok(value.cloned().unwrap_or_default());
    }
    let (colon, operator) = match operator.strip_prefix(':') {
        Some(op) => (true, op),
        None => (false, operator),
    };
    let mut chars = operator.chars();
    let kind = chars.next().ok_or_else(invalid)?;
    let word = chars.as_str();
    // With a colon, an empty value counts as unset.
    let set = value.filter(|v| !(colon && v.is_empty()));
    match (kind, set) {
        ('-', Some(v)) => Ok(v.clone()),
        ('-', None) => interpolate(word, vars),
        ('?', Some(v)) => Ok(v.clone()),
        ('?', None) => Err(InterpolationError::Required {
            name: name.to_owned(),
            message: interpolate(word, vars)?,
        }),
        ('+', Some(_)) => interpolate(word, vars),
        ('+', None) => Ok(String::new()),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        [
            ("SET", "value"),
            ("EMPTY", ""),
            ("FOO", "foo"),
            ("PORT", "8000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn ok(text: &str) -> String {
        interpolate(text, &vars()).unwrap()
    }

    #[test]
    fn every_form_of_the_specification_interpolates() {
        assert_eq!(ok("$SET"), "value");
        assert_eq!(ok("${SET}"), "value");
        assert_eq!(ok("a${SET}b$SET.c"), "avalueb".to_owned() + "value.c");
        assert_eq!(ok("${UNSET}"), "");
        assert_eq!(ok("$UNSET"), "");
        // :- replaces unset or empty, - only unset.
        assert_eq!(ok("${UNSET:-def}"), "def");
        assert_eq!(ok("${EMPTY:-def}"), "def");
        assert_eq!(ok("${SET:-def}"), "value");
        assert_eq!(ok("${UNSET-def}"), "def");
        assert_eq!(ok("${EMPTY-def}"), "");
        // :+ and + give the alternative when set.
        assert_eq!(ok("${SET:+alt}"), "alt");
        assert_eq!(ok("${EMPTY:+alt}"), "");
        assert_eq!(ok("${EMPTY+alt}"), "alt");
        assert_eq!(ok("${UNSET+alt}"), "");
        // ? and :? pass set values through.
        assert_eq!(ok("${SET:?boom}"), "value");
        assert_eq!(ok("${EMPTY?boom}"), "");
    }

    #[test]
    fn defaults_nest() {
        assert_eq!(ok("${UNSET:-${FOO}}"), "foo");
        assert_eq!(ok("${UNSET:-${ALSO_UNSET:-default}}"), "default");
        assert_eq!(ok("${UNSET:-$FOO}"), "foo");
        assert_eq!(ok("${UNSET:-a ${FOO} b}"), "a foo b");
        assert_eq!(
            ok("${UNSET:-/dev/null}:/tmp/foo:ro"),
            "/dev/null:/tmp/foo:ro"
        );
    }

    #[test]
    fn a_double_dollar_is_a_literal_dollar_and_a_lone_dollar_stays() {
        assert_eq!(ok("$$SET"), "$SET");
        assert_eq!(ok("$${SET}"), "${SET}");
        assert_eq!(ok("$$$SET"), "$value");
        assert_eq!(ok("cost $5 or $"), "cost $5 or $");
        assert_eq!(ok("${UNSET:-$$}"), "$");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        assert_eq!(
            interpolate("${UNSET:?set it please}", &vars()),
            Err(InterpolationError::Required {
                name: "UNSET".into(),
                message: "set it please".into()
            })
        );
        assert!(interpolate("${EMPTY:?}", &vars()).is_err());
        assert!(
            interpolate("${UNSET?$FOO}", &vars()).is_err_and(|e| matches!(
                e,
                InterpolationError::Required { message, .. } if message == "foo"
            ))
        );
    }

    #[test]
    fn malformed_expressions_are_refused() {
        for bad in [
            "${",
            "${SET",
            "${}",
            "${SET/a/b}",
            "${1A}",
            "${SET:}",
            "${SET:x}",
        ] {
            assert!(
                matches!(
                    interpolate(bad, &vars()),
                    Err(InterpolationError::Invalid(_))
                ),
                "{bad}"
            );
        }
    }
}
