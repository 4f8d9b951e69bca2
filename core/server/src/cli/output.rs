//! How the client prints what the server answers: aligned tables under a header row for people
//! (the default), or the server's JSON, pretty-printed, for scripts (`--output json`).
//! Timestamps show as RFC 3339 in both.
//!
//! Each noun's module says how its type fills a row by implementing [`Row`]; the functions here
//! print any of them.

use std::io::{self, Write as _};

use komander_domain::api::Page;
use serde::Serialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Writes `text` and a newline on standard output, flushed; an error (such as a closed pipe)
/// is the caller's to return, not a panic as `println!`'s.
pub(super) fn print_line(text: impl std::fmt::Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// How results are printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns under a header row, for people.
    #[default]
    Table,
    /// The server's JSON, pretty-printed, for scripts.
    Json,
}

/// A type shown as one row of a table.
pub trait Row: Serialize {
    /// The header of each column, in upper case.
    const COLUMNS: &'static [&'static str];

    /// The row's cells, one per column.
    fn cells(&self) -> Vec<String>;
}

/// Fetches every page of the list at `path` and prints it; `context` names what was listed
/// when that fails.
///
/// # Errors
/// When the server cannot be reached or refuses, with `context`.
pub async fn print_list<T: Row + serde::de::DeserializeOwned>(
    api: &super::ApiClient,
    format: OutputFormat,
    path: &str,
    context: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let page: Page<T> = api.list(path).await.with_context(context)?;
    print_page(format, &page)
}

/// Prints a whole list: a table of its items, or the page as JSON.
///
/// # Errors
/// When standard output cannot be written (a closed pipe, say).
pub fn print_page<T: Row>(format: OutputFormat, page: &Page<T>) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => print_table(&page.items),
        OutputFormat::Json => print_json(page),
    }
}

/// Prints one object: a table of one row, or the object as JSON.
///
/// # Errors
/// When standard output cannot be written.
pub fn print_item<T: Row>(format: OutputFormat, item: &T) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => print_table(std::slice::from_ref(item)),
        OutputFormat::Json => print_json(item),
    }
}

/// Prints rows as a table.
///
/// # Errors
/// When standard output cannot be written.
pub fn print_table<T: Row>(rows: &[T]) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    io::stdout()
        .lock()
        .write_all(render_table(T::COLUMNS, &rows).as_bytes())?;
    Ok(())
}

/// Prints a value as pretty JSON.
///
/// # Errors
/// When standard output cannot be written.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A table as text: a header row, then one line per row, each column as wide as its widest cell
/// and two spaces apart, no trailing spaces. Control characters (a newline in a description) show
/// as spaces, so that a row stays one line.
/// Prints rows that are not one object each (such as a settings object, one row per key)
/// under `columns`.
///
/// # Errors
/// When standard output cannot be written.
pub fn print_rows(columns: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    io::stdout()
        .lock()
        .write_all(render_table(columns, rows).as_bytes())?;
    Ok(())
}

fn render_table(columns: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = columns.iter().copied().map(printable).collect();
    let lines: Vec<Vec<String>> = std::iter::once(header)
        .chain(rows.iter().map(|row| {
            row.iter()
                .map(String::as_str)
                .map(printable)
                .collect::<Vec<String>>()
        }))
        .collect();
    let mut widths = vec![0; columns.len()];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for line in &lines {
        let padded: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(padded.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// A cell with control characters (a newline in a description) shown as spaces.
fn printable(cell: &str) -> String {
    cell.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A timestamp as RFC 3339.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// A flag as `yes` or `no`.
pub fn yes_no(flag: bool) -> String {
    String::from(if flag { "yes" } else { "no" })
}

/// Values joined by commas, or `-` when there are none.
pub fn joined(values: impl IntoIterator<Item = String>) -> String {
    let text = values.into_iter().collect::<Vec<_>>().join(",");
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let rows = vec![
            vec!["shop".to_owned(), "The\nshop".to_owned()],
            vec!["a".to_owned(), String::new()],
        ];
        assert_eq!(
            render_table(&["NAME", "DISPLAY NAME"], &rows),
            "NAME  DISPLAY NAME\nshop  The shop\na\n"
        );
    }

    #[test]
    fn empty_lists_are_a_dash() {
        assert_eq!(joined(Vec::new()), "-");
        assert_eq!(joined(["a".to_owned(), "b".to_owned()]), "a,b");
    }
}
