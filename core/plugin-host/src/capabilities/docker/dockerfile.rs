//! The images a Dockerfile reads, found before its build starts: the base of each `FROM`, the
//! source of `COPY --from` and `ADD --from`, the `from=` of a `RUN --mount`, and the frontend
//! of a `# syntax=` directive, each after `ARG` (and, in a stage, `ENV`) substitution.
//! References to an earlier stage, by name or index, are not images and are left out.
//!
//! The scan reads a Dockerfile as the daemon's classic builder does (the one Komander's builds
//! use): parser directives at the top, comments, `\` line continuations, case-insensitive
//! instructions, quotes and `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` (and the
//! forms without `:`). Where it cannot be sure what the builder would read, it refuses rather
//! than guess: an escape directive other than `\`, a variable that is not set in an image's
//! place, an expansion form it does not know, an unclosed quote.

use std::collections::HashMap;

/// A place in a Dockerfile that names an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUse {
    /// The line, counting from 1, where the instruction starts.
    pub line: usize,
    /// Where the image appears: `FROM`, `COPY --from`, `ADD --from`, `RUN --mount from` or
    /// `# syntax`.
    pub place: &'static str,
    /// The image, after substitution.
    pub image: String,
}

/// Why a Dockerfile is refused before its build.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DockerfileError {
    /// An image's place uses a variable that no `ARG` (with a value or a build argument) or
    /// `ENV` of the Dockerfile sets.
    #[error(
        "line {line}: {place} uses the variable {variable:?}, which is not set (give the ARG a \
         default or a build argument)"
    )]
    Unresolved {
        /// The line of the instruction.
        line: usize,
        /// Where the image appears.
        place: &'static str,
        /// The variable's name.
        variable: String,
    },
    /// The `escape` parser directive chose another escape character than `\`.
    #[error("line {line}: the escape directive {escape:?} is not supported (only `\\`)")]
    Escape {
        /// The line of the directive.
        line: usize,
        /// The escape character it asks for.
        escape: String,
    },
    /// Something the scan cannot read safely.
    #[error("line {line}: {reason}")]
    Unreadable {
        /// The line of the instruction.
        line: usize,
        /// What it cannot read.
        reason: String,
    },
}

/// What a variable is known to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Var {
    /// Something the Dockerfile does not say (a default that uses an unset variable).
    Unknown,
    /// Declared without a value.
    Unset,
    /// This value.
    Set(String),
}

/// A build stage so far: its name and the variables its instructions set.
struct Stage {
    /// The name after `AS`, in lower case.
    name: Option<String>,
    /// `ARG`s declared in the stage.
    args: HashMap<String, Var>,
    /// `ENV`s set in the stage or the stage it is built on.
    env: HashMap<String, Var>,
}

impl Stage {
    /// A variable as an instruction of this stage sees it. An unknown name may come from the
    /// base image's environment, so only what the Dockerfile sets counts.
    fn get(&self, name: &str) -> Var {
        match self.env.get(name).or_else(|| self.args.get(name)) {
            Some(Var::Set(value)) => Var::Set(value.clone()),
            _ => Var::Unknown,
        }
    }
}

/// Finds every image `dockerfile` reads, with `build_args` overriding its `ARG` defaults.
///
/// # Errors
/// [`DockerfileError`] for a variable in an image's place that is not set, a changed escape
/// character, or an instruction the scan cannot read.
pub fn images(
    dockerfile: &str,
    build_args: &HashMap<String, String>,
) -> Result<Vec<ImageUse>, DockerfileError> {
    let text = dockerfile.strip_prefix('\u{feff}').unwrap_or(dockerfile);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut found = Vec::new();
    let body = directives(&lines, &mut found)?;
    let mut scan = Scan {
        build_args,
        global: HashMap::new(),
        stages: Vec::new(),
        found,
    };
    for (line, instruction) in instructions(&lines[body..], body + 1) {
        scan.instruction(line, &instruction)?;
    }
    Ok(scan.found)
}

/// Reads the parser directives at the top (`# escape=…`, `# syntax=…`); answers how many lines
/// they take. A line that is not a directive ends them, as in the builder.
fn directives(lines: &[&str], found: &mut Vec<ImageUse>) -> Result<usize, DockerfileError> {
    let mut escape_seen = false;
    for (i, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else {
            return Ok(i);
        };
        let line = i + 1;
        match key.to_ascii_lowercase().as_str() {
            "escape" if escape_seen => {
                return Err(DockerfileError::Unreadable {
                    line,
                    reason: "the escape directive is given twice".into(),
                });
            }
            "escape" if value != "\\" => {
                return Err(DockerfileError::Escape {
                    line,
                    escape: value.to_owned(),
                });
            }
            "escape" => escape_seen = true,
            // The frontend image BuildKit would run; the classic builder ignores it.
            "syntax" => found.push(ImageUse {
                line,
                place: "# syntax",
                image: value.to_owned(),
            }),
            _ => {}
        }
    }
    Ok(lines.len())
}

/// A parser directive's key and value: `# key=value`, spaces allowed around each.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    let mut chars = key.chars();
    let is_key = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric());
    let value = value.trim();
    (is_key && !value.is_empty()).then_some((key, value))
}

/// The instructions of `lines` (the first being line `first`), continuation lines joined,
/// comments and blank lines dropped; each with the line it starts on.
fn instructions(lines: &[&str], first: usize) -> Vec<(usize, String)> {
    let mut all = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (start, text) = current.get_or_insert_with(|| (first + i, String::new()));
        let end = trimmed.trim_end_matches([' ', '\t']);
        match end.strip_suffix('\\') {
            Some(continued) => text.push_str(continued),
            None => {
                text.push_str(end);
                all.push((*start, std::mem::take(text)));
                current = None;
            }
        }
    }
    all.extend(current);
    all
}

/// The state of a scan: the global `ARG`s, the stages so far and the images found.
struct Scan<'a> {
    build_args: &'a HashMap<String, String>,
    /// `ARG`s declared before the first `FROM`: all a `FROM` line sees.
    global: HashMap<String, Var>,
    stages: Vec<Stage>,
    found: Vec<ImageUse>,
}

impl Scan<'_> {
    fn instruction(&mut self, line: usize, instruction: &str) -> Result<(), DockerfileError> {
        let unreadable = |reason: String| DockerfileError::Unreadable { line, reason };
        let instruction = instruction.trim();
        let (keyword, rest) = instruction
            .split_once([' ', '\t'])
            .unwrap_or((instruction, ""));
        let keyword = keyword.to_ascii_lowercase();
        let words = words(rest.trim()).map_err(|reason| unreadable(reason.into()))?;
        if self.stages.is_empty() && !matches!(keyword.as_str(), "arg" | "from") {
            return Err(unreadable(format!(
                "{} before the first FROM",
                keyword.to_ascii_uppercase()
            )));
        }
        match keyword.as_str() {
            "arg" => self.arg(line, &words),
            "env" => self.env(line, rest.trim(), &words),
            "from" => self.from(line, &words),
            "copy" | "add" => {
                let place = if keyword == "copy" {
                    "COPY --from"
                } else {
                    "ADD --from"
                };
                for flag in flags(&words) {
                    let lower = flag.to_ascii_lowercase();
                    if lower == "--from" {
                        return Err(unreadable(format!("{place} needs `=` and a value")));
                    }
                    if lower.starts_with("--from=") {
                        self.source(line, place, &flag["--from=".len()..])?;
                    }
                }
                Ok(())
            }
            "run" => {
                for flag in flags(&words) {
                    if flag.to_ascii_lowercase().starts_with("--mount=") {
                        for field in flag["--mount=".len()..].split(',') {
                            let (key, value) = field.split_once('=').unwrap_or((field, ""));
                            if key
                                .replace(['"', '\''], "")
                                .trim()
                                .eq_ignore_ascii_case("from")
                            {
                                self.source(line, "RUN --mount from", value)?;
                            }
                        }
                    }
                }
                Ok(())
            }
            // ONBUILD instructions run in later builds, not this one.
            _ => Ok(()),
        }
    }

    /// `ARG name[=default] …`: a build argument overrides the default; in a stage, a name
    /// without a default takes the global one.
    fn arg(&mut self, line: usize, words: &[String]) -> Result<(), DockerfileError> {
        for word in words {
            let (name, default) = match word.split_once('=') {
                Some((name, default)) => (name, Some(default)),
                None => (word.as_str(), None),
            };
            let value = match (self.build_args.get(name), default) {
                (Some(given), _) => Var::Set(given.clone()),
                (None, Some(default)) => {
                    let expanded = match self.stages.last() {
                        None => expand(default, &|n| self.global_var(n)),
                        Some(stage) => expand(default, &|n| stage.get(n)),
                    }
                    .map_err(|reason| DockerfileError::Unreadable {
                        line,
                        reason: format!("ARG {name}: {reason}"),
                    })?;
                    match expanded {
                        Expanded::Text(text) => Var::Set(text),
                        Expanded::Unresolved(_) => Var::Unknown,
                    }
                }
                (None, None) if !self.stages.is_empty() => {
                    self.global.get(name).cloned().unwrap_or(Var::Unset)
                }
                (None, None) => Var::Unset,
            };
            match self.stages.last_mut() {
                None => self.global.insert(name.to_owned(), value),
                Some(stage) => stage.args.insert(name.to_owned(), value),
            };
        }
        Ok(())
    }

    /// `ENV key=value …`, or the older `ENV key value`.
    fn env(&mut self, line: usize, rest: &str, words: &[String]) -> Result<(), DockerfileError> {
        let pairs: Vec<(String, String)> = match words.first() {
            Some(first) if !first.contains('=') => {
                let value = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..].trim();
                vec![(first.clone(), value.to_owned())]
            }
            _ => words
                .iter()
                .map(|w| {
                    let (k, v) = w.split_once('=').unwrap_or((w, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
        };
        let stage = self.stages.last_mut().expect("checked: inside a stage");
        for (key, value) in pairs {
            let value = match expand(&value, &|n| stage.get(n)).map_err(|reason| {
                DockerfileError::Unreadable {
                    line,
                    reason: format!("ENV {key}: {reason}"),
                }
            })? {
                Expanded::Text(text) => Var::Set(text),
                Expanded::Unresolved(_) => Var::Unknown,
            };
            stage.env.insert(key, value);
        }
        Ok(())
    }

    /// `FROM [--platform=…] image [AS name]`: the image sees the global `ARG`s only.
    fn from(&mut self, line: usize, words: &[String]) -> Result<(), DockerfileError> {
        let rest: Vec<&String> = words.iter().skip_while(|w| w.starts_with("--")).collect();
        let (image, name) = match rest.as_slice() {
            [image] => (image, None),
            [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                (image, Some(name.to_ascii_lowercase()))
            }
            _ => {
                return Err(DockerfileError::Unreadable {
                    line,
                    reason: "FROM takes an image, then optionally AS and a name".into(),
                });
            }
        };
        let image = self.resolve(line, "FROM", image, &|n| self.global_var(n))?;
        let base = self.stage_named(&image);
        let env = match base {
            Some(i) => self.stages[i].env.clone(),
            None => {
                if !image.eq_ignore_ascii_case("scratch") {
                    self.found.push(ImageUse {
                        line,
                        place: "FROM",
                        image,
                    });
                }
                HashMap::new()
            }
        };
        self.stages.push(Stage {
            name,
            args: HashMap::new(),
            env,
        });
        Ok(())
    }

    /// The source of a `--from` or `from=`: an earlier stage by name or index, or an image.
    fn source(
        &mut self,
        line: usize,
        place: &'static str,
        raw: &str,
    ) -> Result<(), DockerfileError> {
        let stage = self.stages.last().expect("checked: inside a stage");
        let value = self.resolve(line, place, raw, &|n| stage.get(n))?;
        let current = self.stages.len() - 1;
        let earlier = self.stage_named(&value).is_some_and(|i| i < current)
            || value.parse::<usize>().is_ok_and(|i| i < current);
        if !earlier {
            self.found.push(ImageUse {
                line,
                place,
                image: value,
            });
        }
        Ok(())
    }

    /// `raw` with its variables substituted through `lookup`; an unset one is refused.
    fn resolve(
        &self,
        line: usize,
        place: &'static str,
        raw: &str,
        lookup: &dyn Fn(&str) -> Var,
    ) -> Result<String, DockerfileError> {
        match expand(raw, lookup) {
            Ok(Expanded::Text(text)) => Ok(text),
            Ok(Expanded::Unresolved(variable)) => Err(DockerfileError::Unresolved {
                line,
                place,
                variable,
            }),
            Err(reason) => Err(DockerfileError::Unreadable {
                line,
                reason: format!("{place} {raw:?}: {reason}"),
            }),
        }
    }

    /// A global `ARG` as a `FROM` line sees it: nothing else sets variables there.
    fn global_var(&self, name: &str) -> Var {
        self.global.get(name).cloned().unwrap_or(Var::Unset)
    }

    /// The index of the stage named `name` (case-insensitively).
    fn stage_named(&self, name: &str) -> Option<usize> {
        let name = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(name.as_str()))
    }
}

/// The leading `--flag…` words of an instruction.
fn flags(words: &[String]) -> impl Iterator<Item = &String> {
    words.iter().take_while(|w| w.starts_with("--"))
}

/// Splits an instruction's arguments at unquoted whitespace, keeping quotes and escapes for
/// [`expand`].
fn words(text: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                word.push(c);
                word.extend(chars.next());
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                word.push(c);
            }
            (c, Some(q)) if c == q => {
                quote = None;
                word.push(c);
            }
            (c, None) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (c, _) => word.push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed");
    }
    if !word.is_empty() {
        words.push(word);
    }
    Ok(words)
}

/// A word after substitution.
#[derive(Debug, PartialEq, Eq)]
enum Expanded {
    /// What the builder would read.
    Text(String),
    /// The first variable it needs that is not set.
    Unresolved(String),
}

/// Substitutes the variables of `word` and removes its quotes and escapes, as the builder's
/// shell-like lexer does.
fn expand(word: &str, lookup: &dyn Fn(&str) -> Var) -> Result<Expanded, &'static str> {
    let mut chars = word.chars().peekable();
    let mut unresolved = None;
    let text = Lexer {
        lookup,
        unresolved: &mut unresolved,
    }
    .word(&mut chars, false)?;
    Ok(match unresolved {
        Some(name) => Expanded::Unresolved(name),
        None => Expanded::Text(text),
    })
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// The lexer of [`expand`]: where variables come from, and the first one not set.
struct Lexer<'a, 'b> {
    lookup: &'a dyn Fn(&str) -> Var,
    unresolved: &'b mut Option<String>,
}

impl Lexer<'_, '_> {
    /// Reads a word up to its end, or up to the `}` closing a `${…}` when `in_braces`.
    fn word(&mut self, chars: &mut Chars, in_braces: bool) -> Result<String, &'static str> {
        let mut text = String::new();
        let mut double = false;
        while let Some(&c) = chars.peek() {
            if c == '}' && in_braces && !double {
                return Ok(text);
            }
            chars.next();
            match c {
                '\\' => text.push(chars.next().unwrap_or('\\')),
                '\'' if !double => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => return Err("a quote is not closed"),
                    }
                },
                '"' => double = !double,
                '$' => text.push_str(&self.dollar(chars)?),
                c => text.push(c),
            }
        }
        if double {
            return Err("a quote is not closed");
        }
        if in_braces {
            return Err("a `${` is not closed");
        }
        Ok(text)
    }

    /// Reads what follows a `$` and answers its value.
    fn dollar(&mut self, chars: &mut Chars) -> Result<String, &'static str> {
        let braced = chars.next_if_eq(&'{').is_some();
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
            name.push(c);
        }
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err("a `$` starts no variable name");
        }
        let var = (self.lookup)(&name);
        if !braced {
            return Ok(self.value(&name, var));
        }
        let colon = chars.next_if_eq(&':').is_some();
        let result = match chars.next() {
            Some('}') if !colon => return Ok(self.value(&name, var)),
            Some(op @ ('-' | '+')) => {
                let alternative = self.word(chars, true)?;
                chars.next(); // the closing `}`
                let set = match &var {
                    Var::Unknown => {
                        self.unresolved.get_or_insert(name);
                        return Ok(String::new());
                    }
                    Var::Unset => None,
                    Var::Set(value) if colon && value.is_empty() => None,
                    Var::Set(value) => Some(value.clone()),
                };
                match (op, set) {
                    ('-', Some(value)) => value,
                    ('-', None) => alternative,
                    (_, Some(_)) => alternative,
                    (_, None) => String::new(),
                }
            }
            _ => return Err("only ${VAR}, ${VAR:-default} and ${VAR:+alternative} are supported"),
        };
        Ok(result)
    }

    /// A variable's value; one not set is noted and reads as empty.
    fn value(&mut self, name: &str, var: Var) -> String {
        match var {
            Var::Set(value) => value,
            Var::Unset | Var::Unknown => {
                self.unresolved.get_or_insert_with(|| name.to_owned());
                String::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(dockerfile: &str, args: &[(&str, &str)]) -> Result<Vec<String>, DockerfileError> {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        images(dockerfile, &args).map(|found| {
            found
                .into_iter()
                .map(|u| format!("{} {} {}", u.line, u.place, u.image))
                .collect()
        })
    }

    #[test]
    fn from_copy_and_mount_sources_are_found_and_stages_are_not() {
        let dockerfile = "\
# syntax=docker/dockerfile:1
# a comment
from --platform=$BUILDPLATFORM golang:1.22 As Build
RUN --mount=type=cache,target=/root/.cache \\
    --mount=type=bind,from=tools,source=/bin,target=/t go build
FROM build AS test
COPY --from=BUILD /out /out
COPY --from=0 /out /out2
copy --from=nginx:1.27 /etc/nginx /etc/nginx
ADD --from=3 /x /y
FROM scratch
COPY --from=test /out /
";
        assert_eq!(
            scan(dockerfile, &[]).unwrap(),
            [
                "1 # syntax docker/dockerfile:1",
                "3 FROM golang:1.22",
                "4 RUN --mount from tools",
                "9 COPY --from nginx:1.27",
                "10 ADD --from 3",
            ]
        );
    }

    #[test]
    fn continuations_comments_and_blank_lines_join_as_the_builder_does() {
        let dockerfile = "\
\u{feff}ARG REGISTRY=docker.io\r
\r
  FROM \\\r
# a comment inside the instruction\r
\r
    $REGISTRY/komander/other/web \\  \r
    AS web\r
";
        assert_eq!(
            scan(dockerfile, &[]).unwrap(),
            ["3 FROM docker.io/komander/other/web"]
        );
    }

    #[test]
    fn args_are_substituted_with_build_arguments_overriding_defaults() {
        let dockerfile = "\
ARG BASE=busybox
ARG TAG
ARG FULL=\"${BASE}:${TAG:-1.36}\"
FROM $FULL
FROM ${BASE}
ARG BASE
ARG SRC=${BASE}
ENV OTHER=alpine
COPY --from=$SRC /a /b
COPY --from=\"${OTHER}\" /a /b
";
        assert_eq!(
            scan(dockerfile, &[]).unwrap(),
            [
                "4 FROM busybox:1.36",
                "5 FROM busybox",
                "9 COPY --from busybox",
                "10 COPY --from alpine",
            ]
        );
        assert_eq!(
            scan(dockerfile, &[("BASE", "komander/other/web"), ("TAG", "2")]).unwrap(),
            [
                "4 FROM komander/other/web:2",
                "5 FROM komander/other/web",
                "9 COPY --from komander/other/web",
                "10 COPY --from alpine",
            ]
        );
        // A build argument for an ARG the Dockerfile does not declare changes nothing.
        assert_eq!(
            scan("FROM ${IMAGE:-busybox}\n", &[("IMAGE", "komander/x/y")]).unwrap(),
            ["1 FROM busybox"]
        );
    }

    #[test]
    fn an_unset_variable_in_an_image_place_is_refused() {
        for (dockerfile, variable) in [
            ("FROM $IMAGE\n", "IMAGE"),
            ("ARG IMAGE\nFROM ${IMAGE}\n", "IMAGE"),
            ("ARG A=$B\nFROM $A\n", "A"),
            ("FROM busybox\nARG SRC\nCOPY --from=$SRC /a /b\n", "SRC"),
            // In a stage, a name the Dockerfile does not set may come from the base image.
            ("FROM busybox\nCOPY --from=${HOME:-busybox} /a /b\n", "HOME"),
            (
                "FROM busybox\nRUN --mount=type=bind,from=$X,target=/x true\n",
                "X",
            ),
            // A global ARG is not seen in a stage until the stage declares it again.
            (
                "ARG SRC=busybox\nFROM busybox\nCOPY --from=$SRC /a /b\n",
                "SRC",
            ),
        ] {
            match scan(dockerfile, &[]) {
                Err(DockerfileError::Unresolved { variable: v, .. }) => {
                    assert_eq!(v, variable, "{dockerfile}")
                }
                other => panic!("{dockerfile}: expected unresolved, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_changed_escape_character_is_refused_not_misread() {
        let backtick = "# escape=`\nFROM busybox\nCOPY --from=komander/other/x `\n  /a /b\n";
        assert!(matches!(
            scan(backtick, &[]),
            Err(DockerfileError::Escape { line: 1, .. })
        ));
        assert_eq!(
            scan("# Escape = \\\nFROM busybox\n", &[]).unwrap(),
            ["2 FROM busybox"]
        );
        // After the first instruction, a directive is only a comment.
        assert_eq!(
            scan("FROM busybox\n# escape=`\n", &[]).unwrap(),
            ["1 FROM busybox"]
        );
    }

    #[test]
    fn what_the_scan_cannot_read_is_refused() {
        for dockerfile in [
            "FROM \"busybox\n",
            "FROM ${IMAGE#x}\n",
            "FROM ${IMAGE\n",
            "FROM $1\n",
            "FROM busybox AS\n",
            "FROM a b c d\n",
            "COPY --from=x /a /b\n",
            "FROM busybox\nCOPY --from /a /b\n",
            "# escape=\\\n# escape=\\\nFROM busybox\n",
        ] {
            assert!(
                matches!(
                    scan(dockerfile, &[]),
                    Err(DockerfileError::Unreadable { .. })
                ),
                "{dockerfile}: {:?}",
                scan(dockerfile, &[])
            );
        }
    }

    #[test]
    fn quotes_and_escapes_are_removed_as_the_builder_removes_them() {
        assert_eq!(
            scan("FROM \"komander\"/'other'/we\\b\n", &[]).unwrap(),
            ["1 FROM komander/other/web"]
        );
        assert_eq!(
            scan("ARG X=1\nFROM 'busybox:$X'\n", &[]).unwrap(),
            ["2 FROM busybox:$X"]
        );
    }
}
