//! The plugin guides' code cannot go stale: every Rust and TOML snippet of `docs/plugins.md`
//! and `docs/plugin-host.md` is an excerpt of a file the test command builds (a `.rs` or
//! `.toml` under `core/`, `plugins/` or `tests/`). A snippet is split at its elision lines (`// …` or `# …`, what it
//! leaves out); each part must stand in one file line for line (indentation and blank lines
//! aside), and the parts in order.

use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The guides whose snippets are checked.
const GUIDES: [&str; 2] = ["docs/plugins.md", "docs/plugin-host.md"];

/// Every file with the extension `extension` under `dir`, outside target directories.
fn sources(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                sources(&path, extension, found);
            }
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
}

/// The lines of `text` that count: trimmed, without blank ones.
fn significant(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// A snippet's parts, split at its elision lines.
fn parts(snippet: &str) -> Vec<Vec<&str>> {
    let mut parts = vec![Vec::new()];
    for line in significant(snippet) {
        if line.starts_with("// …") || line.starts_with("# …") {
            parts.push(Vec::new());
        } else {
            parts.last_mut().unwrap().push(line);
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// How many of `parts`, in order, stand in `file`'s lines.
fn parts_found(parts: &[Vec<&str>], file: &[&str]) -> usize {
    let mut from = 0;
    for (found, part) in parts.iter().enumerate() {
        match (from..=file.len().saturating_sub(part.len()))
            .find(|&at| file[at..].starts_with(part))
        {
            Some(at) => from = at + part.len(),
            None => return found,
        }
    }
    parts.len()
}

/// Every fenced block of the language `language` in `markdown`, with its line number.
fn snippets<'a>(markdown: &'a str, language: &str) -> Vec<(usize, &'a str)> {
    let fence = format!("```{language}\n");
    let mut found = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(&fence) {
        let body_start = start + fence.len();
        let end = rest[body_start..]
            .find("\n```")
            .map_or(rest.len(), |e| body_start + e + 1);
        let line = markdown.len() - rest.len() + start;
        found.push((markdown[..line].lines().count() + 1, &rest[body_start..end]));
        rest = &rest[end..];
    }
    found
}

#[test]
fn every_rust_and_toml_snippet_of_the_plugin_guides_is_code_the_tests_build() {
    let root = root();
    let mut checked = 0;
    let mut stale = Vec::new();
    for (language, extension) in [("rust", "rs"), ("toml", "toml")] {
        let mut files = Vec::new();
        for dir in ["core", "plugins", "tests"] {
            sources(&root.join(dir), extension, &mut files);
        }
        let texts: Vec<(PathBuf, String)> = files
            .into_iter()
            .map(|f| {
                let text = std::fs::read_to_string(&f).unwrap();
                (f, text)
            })
            .collect();
        let lines: Vec<Vec<&str>> = texts.iter().map(|(_, t)| significant(t)).collect();
        for guide in GUIDES {
            let markdown = std::fs::read_to_string(root.join(guide)).unwrap();
            for (line, snippet) in snippets(&markdown, language) {
                checked += 1;
                let parts = parts(snippet);
                let best = lines
                    .iter()
                    .map(|file| parts_found(&parts, file))
                    .max()
                    .unwrap_or(0);
                if best < parts.len() {
                    stale.push(format!(
                        "{guide}:{line}: no {extension} file holds its part {}, starting {:?}",
                        best + 1,
                        parts[best][0]
                    ));
                }
            }
        }
    }
    assert!(
        checked >= 15,
        "only {checked} snippets found: is the fence search broken?"
    );
    assert!(stale.is_empty(), "stale snippets:\n{}", stale.join("\n"));
}

#[test]
fn a_changed_line_or_a_part_out_of_order_is_not_an_excerpt() {
    let file = significant("fn a() {\n    one();\n    two();\n}\n\nfn b() {\n    three();\n}\n");
    let excerpt = parts("    one();\n    two();\n// … more …\n    three();\n");
    assert_eq!(parts_found(&excerpt, &file), 2);
    let changed = parts("    one();\n    twice();\n");
    assert_eq!(parts_found(&changed, &file), 0);
    let skipped = parts("    one();\n}\n");
    assert_eq!(
        parts_found(&skipped, &file),
        0,
        "a part stands line for line"
    );
    let swapped = parts("    three();\n// …\n    one();\n");
    assert_eq!(parts_found(&swapped, &file), 1);
}
