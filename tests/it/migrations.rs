//! Both backends have the same migrations, by version and name (STYLE.md §16).

use std::path::Path;

fn names(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sqlite_and_postgres_migrations_match() {
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
    for name in &sqlite {
        let (version, rest) = name.split_once('_').unwrap();
        assert_eq!(
            version.len(),
            14,
            "{name}: <YYYYMMDDHHMMSS>_<verb>_<noun>.sql"
        );
        assert!(
            version.bytes().all(|b| b.is_ascii_digit()) && rest.ends_with(".sql"),
            "{name}"
        );
    }
}
