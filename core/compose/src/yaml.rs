//! The YAML of a Compose file as a tree of nodes that remember their line, built from
//! `granit-parser`'s events with the limits a hostile file meets: nesting depth, and a node
//! budget that aliases are charged against when they are expanded (so a "billion laughs" file
//! stops at the budget instead of filling memory). Merge keys (`<<`) are applied as Compose does.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle};

/// The deepest a Compose file nests collections: real files stay under ten.
pub const MAX_DEPTH: usize = 32;
/// The most nodes a file may hold once its aliases are expanded: a 100-service file holds a
/// few thousand; more is an alias bomb.
pub const MAX_NODES: usize = 100_000;

/// A YAML node and the line (1-based) it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where it starts.
    pub line: usize,
    /// What it holds.
    pub value: Value,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// Any other scalar, as written (after YAML escapes); `plain` when unquoted.
    Scalar {
        /// The text.
        text: String,
        /// Written without quotes or block style, so `true` or `80` read as such.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order, with string keys.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The entries of a mapping, or `None`.
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The text of a scalar, or `None` for collections and null.
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// How many nodes it holds, itself included.
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Null | Value::Scalar { .. } => 0,
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(_, v)| v.size()).sum(),
        }
    }
}

/// Why a file is not YAML Komander reads, at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn error<T>(line: usize, message: impl Into<String>) -> Result<T, YamlError> {
    Err(YamlError {
        line,
        message: message.into(),
    })
}

/// A collection being built.
enum Open {
    Seq {
        line: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        anchor: usize,
        entries: Vec<(String, Node)>,
        key: Option<(String, usize)>,
    },
}

/// Reads the one document of `text` (an empty file is `Null`).
///
/// # Errors
/// A [`YamlError`] for YAML that does not parse, more than one document, a mapping key that is
/// not a scalar or appears twice, custom tags, nesting deeper than [`MAX_DEPTH`], or more than
/// [`MAX_NODES`] nodes once aliases are expanded.
pub fn load(text: &str) -> Result<Node, YamlError> {
    let mut options = granit_parser::options! {
        flow_nesting_limit: MAX_DEPTH,
        block_nesting_limit: MAX_DEPTH,
    };
    options.set_emit_comments(false);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut budget = MAX_NODES;
    let mut documents = 0;
    let mut root: Option<Node> = None;
    for event in Parser::new_from_str_with_options(text, options) {
        let (event, span) = event.map_err(|e| YamlError {
            line: e.marker().line(),
            message: e.info(),
        })?;
        let line = span.start.line();
        let (node, anchor) = match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return error(line, "a Compose file holds one YAML document");
                }
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(tag) = tag
                    && !tag.is_yaml_core_schema()
                {
                    return error(
                        line,
                        format!("YAML tag {} is not supported", tag.original()),
                    );
                }
                let plain = style == ScalarStyle::Plain;
                let value = if plain && matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    }
                };
                (Node { line, value }, anchor)
            }
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                if let Some(tag) = tag
                    && !tag.is_yaml_core_schema()
                {
                    return error(
                        line,
                        format!("YAML tag {} is not supported", tag.original()),
                    );
                }
                if stack.len() >= MAX_DEPTH {
                    return error(line, format!("nesting deeper than {MAX_DEPTH} levels"));
                }
                let map = matches!(event, Event::MappingStart(..));
                stack.push(if map {
                    Open::Map {
                        line,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                } else {
                    Open::Seq {
                        line,
                        anchor,
                        items: Vec::new(),
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq {
                    line,
                    anchor,
                    items,
                }) => (
                    Node {
                        line,
                        value: Value::Seq(items),
                    },
                    anchor,
                ),
                Some(Open::Map {
                    line,
                    anchor,
                    entries,
                    ..
                }) => (
                    Node {
                        line,
                        value: Value::Map(merge(entries)?),
                    },
                    anchor,
                ),
                None => return error(line, "unbalanced collection"),
            },
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return error(line, "alias to an unknown anchor");
                };
                let size = target.size();
                if size > budget {
                    return error(
                        line,
                        format!("more than {MAX_NODES} nodes once aliases are expanded"),
                    );
                }
                budget -= size;
                let mut node = target.clone();
                node.line = line;
                (node, 0)
            }
            _ => continue,
        };
        if budget == 0 {
            return error(
                line,
                format!("more than {MAX_NODES} nodes once aliases are expanded"),
            );
        }
        budget -= 1;
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => {
                    let text = match node.value {
                        Value::Scalar { text, .. } => text,
                        Value::Null => String::new(),
                        _ => return error(node.line, "a mapping key must be a scalar"),
                    };
                    if entries.iter().any(|(k, _)| *k == text) && text != "<<" {
                        return error(node.line, format!("key {text:?} appears twice"));
                    }
                    *key = Some((text, node.line));
                }
                // A value is placed at its key's line: refusals of a collection name the key.
                Some((k, key_line)) => entries.push((
                    k,
                    Node {
                        line: key_line,
                        ..node
                    },
                )),
            },
        }
    }
    Ok(root.unwrap_or(Node {
        line: 1,
        value: Value::Null,
    }))
}

/// Applies merge keys: the entries of `<<: *map` (or `<<: [*a, *b]`) that the mapping does not
/// set itself, as YAML 1.1 and Compose do.
fn merge(entries: Vec<(String, Node)>) -> Result<Vec<(String, Node)>, YamlError> {
    if !entries.iter().any(|(k, _)| k == "<<") {
        return Ok(entries);
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| k == "<<");
    for (_, source) in merges {
        let sources = match source.value {
            Value::Map(_) => vec![source],
            Value::Seq(items) => items,
            _ => {
                return error(
                    source.line,
                    "a merge key (<<) takes a mapping or a list of them",
                );
            }
        };
        for source in sources {
            let Value::Map(inherited) = source.value else {
                return error(
                    source.line,
                    "a merge key (<<) takes a mapping or a list of them",
                );
            };
            for (k, v) in inherited {
                if !own.iter().any(|(o, _)| *o == k) {
                    own.push((k, v));
                }
            }
        }
    }
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_remember_their_line() {
        let root = load("a: 1\nb:\n  - x\n  - y\n").unwrap();
        let map = root.as_map().unwrap();
        assert_eq!(map[0].1.line, 1);
        assert_eq!(map[1].0, "b");
        let Value::Seq(items) = &map[1].1.value else {
            panic!("a list")
        };
        assert_eq!(items[1].line, 4);
        assert_eq!(items[1].as_text(), Some("y"));
    }

    #[test]
    fn merge_keys_fill_what_the_mapping_does_not_set() {
        let root = load("x: &base {a: 1, b: 2}\ny:\n  <<: *base\n  b: 3\n").unwrap();
        let y = &root.as_map().unwrap()[1].1;
        let y = y.as_map().unwrap();
        assert_eq!(y.len(), 2);
        assert!(y.iter().any(|(k, v)| k == "a" && v.as_text() == Some("1")));
        assert!(y.iter().any(|(k, v)| k == "b" && v.as_text() == Some("3")));
    }

    #[test]
    fn an_alias_bomb_stops_at_the_node_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, \
                 *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = load(&text).unwrap_err();
        assert!(err.message.contains("aliases are expanded"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused_at_its_line() {
        let text = format!("{}x{}", "[".repeat(200), "]".repeat(200));
        let err = load(&text).unwrap_err();
        assert_eq!(err.line, 1);
        let block: String = (0..40)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect();
        assert!(load(&block).is_err());
    }

    #[test]
    fn duplicate_keys_two_documents_and_custom_tags_are_refused() {
        assert_eq!(load("a: 1\na: 2\n").unwrap_err().line, 2);
        assert!(load("a: 1\n---\nb: 2\n").is_err());
        assert!(
            load("a: !reset []\n")
                .unwrap_err()
                .message
                .contains("!reset")
        );
    }
}
