//! Database size and row count before and after the load, read with the
//! `sqlite3` and `psql` command-line clients when they are installed, so
//! the bench needs no database driver of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// The database of the server under test.
#[derive(Clone, Debug, PartialEq)]
pub enum Database {
    Sqlite { path: PathBuf },
    Postgres { url: String },
}

impl Database {
    /// Reads a server database URL: `sqlite://PATH`, `sqlite:PATH`, or
    /// `postgres://...` / `postgresql://...`. Returns `None` for other URLs.
    pub fn from_url(url: &str) -> Option<Database> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(Database::Postgres {
                url: url.to_string(),
            });
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split_once('?').map_or(rest, |(path, _)| path);
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Some(Database::Sqlite {
            path: PathBuf::from(path),
        })
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }
}

/// One reading of the database's size.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    pub bytes: Option<u64>,
    /// Method by which `bytes` was read.
    pub bytes_source: Option<&'static str>,
    /// Rows in all tables of the database.
    pub rows: Option<u64>,
}

/// Reads the size and row count. Parts that cannot be read stay `None`,
/// with the reason in the returned notes.
pub fn measure(database: &Database) -> (Usage, Vec<String>) {
    match database {
        Database::Sqlite { path } => measure_sqlite(path),
        Database::Postgres { url } => measure_postgres(url),
    }
}

fn measure_sqlite(path: &Path) -> (Usage, Vec<String>) {
    let mut notes = Vec::new();
    let database = path.display().to_string();
    // page_count × page_size is the logical size, WAL frames included,
    // which the file sizes overstate until the WAL is checkpointed.
    let logical = run_sqlite(&database, "PRAGMA page_count;")
        .and_then(|pages| run_sqlite(&database, "PRAGMA page_size;").map(|size| (pages, size)));
    let mut usage = Usage::default();
    match logical {
        Ok((pages, page_size)) => {
            usage.bytes = parse_number(&pages)
                .zip(parse_number(&page_size))
                .map(|(pages, size)| pages * size);
            usage.bytes_source = Some("sqlite3 page_count * page_size");
        }
        Err(error) => {
            notes.push(format!("{error}; database bytes are file sizes (database + WAL), which overstate growth until a checkpoint"));
            usage.bytes = sqlite_file_bytes(path);
            usage.bytes_source = usage.bytes.map(|_| "file sizes (database + WAL)");
        }
    }
    let tables =
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%';";
    match count_rows(tables, '"', |query| run_sqlite(&database, query)) {
        Ok(rows) => usage.rows = Some(rows),
        Err(error) => notes.push(format!("{error}; database rows are not counted")),
    }
    (usage, notes)
}

fn sqlite_file_bytes(path: &Path) -> Option<u64> {
    let main = std::fs::metadata(path).ok()?.len();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::fs::metadata(PathBuf::from(wal)).map_or(0, |metadata| metadata.len());
    Some(main + wal)
}

fn measure_postgres(url: &str) -> (Usage, Vec<String>) {
    let mut notes = Vec::new();
    let mut usage = Usage::default();
    match run_psql(url, "SELECT pg_database_size(current_database());") {
        Ok(text) => {
            usage.bytes = parse_number(&text);
            usage.bytes_source = Some("pg_database_size");
        }
        Err(error) => notes.push(format!("{error}; database bytes are not measured")),
    }
    let tables = "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables \
                  WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema');";
    match count_rows(tables, '\0', |query| run_psql(url, query)) {
        Ok(rows) => usage.rows = Some(rows),
        Err(error) => notes.push(format!("{error}; database rows are not counted")),
    }
    (usage, notes)
}

/// Lists the tables with `tables_query`, then counts the rows of all of
/// them in one query.
fn count_rows(
    tables_query: &str,
    quote: char,
    run: impl Fn(&str) -> Result<String, String>,
) -> Result<u64, String> {
    let tables = run(tables_query)?;
    let Some(query) = count_rows_query(tables.lines(), quote) else {
        return Ok(0);
    };
    let total = run(&query)?;
    parse_number(&total).ok_or_else(|| format!("unreadable row count `{}`", total.trim()))
}

/// Builds a query summing `count(*)` over `tables`, or `None` without
/// tables. Names are quoted with `quote` unless it is `'\0'`, which means
/// they arrive quoted.
fn count_rows_query<'a>(tables: impl Iterator<Item = &'a str>, quote: char) -> Option<String> {
    let counts: Vec<String> = tables
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let name = if quote == '\0' {
                name.to_string()
            } else {
                format!(
                    "{quote}{}{quote}",
                    name.replace(quote, &format!("{quote}{quote}"))
                )
            };
            format!("(SELECT count(*) FROM {name})")
        })
        .collect();
    if counts.is_empty() {
        return None;
    }
    Some(format!("SELECT {};", counts.join(" + ")))
}

fn parse_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

fn run_sqlite(database: &str, query: &str) -> Result<String, String> {
    run_client("sqlite3", &["-readonly", database, query])
}

fn run_psql(url: &str, query: &str) -> Result<String, String> {
    run_client(
        "psql",
        &[
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            query,
        ],
    )
}

fn run_client(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program).args(args).output().map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            format!("`{program}` is not installed")
        } else {
            format!("cannot run `{program}`: {error}")
        }
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`{program}` failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_give_paths() {
        let cases = [
            ("sqlite:///tmp/bench.db", "/tmp/bench.db"),
            ("sqlite://tern.db", "tern.db"),
            ("sqlite:data/tern.db?mode=rwc", "data/tern.db"),
        ];
        for (url, path) in cases {
            assert_eq!(
                Database::from_url(url),
                Some(Database::Sqlite { path: path.into() }),
                "{url}"
            );
        }
    }

    #[test]
    fn postgres_urls_kept_whole() {
        let url = "postgres://postgres@127.0.0.1:5432/bench";
        assert_eq!(
            Database::from_url(url),
            Some(Database::Postgres { url: url.into() })
        );
        let long_form = "postgresql://127.0.0.1/bench";
        assert_eq!(
            Database::from_url(long_form).map(|db| db.backend()),
            Some("postgres")
        );
    }

    #[test]
    fn unsupported_urls_rejected() {
        for url in ["sqlite::memory:", "sqlite://", "mysql://host/db", "tern.db"] {
            assert_eq!(Database::from_url(url), None, "{url}");
        }
    }

    #[test]
    fn row_count_query_quotes_names() {
        let query = count_rows_query(["events", "odd\"name", ""].into_iter(), '"').unwrap();
        assert_eq!(
            query,
            r#"SELECT (SELECT count(*) FROM "events") + (SELECT count(*) FROM "odd""name");"#
        );
        assert_eq!(count_rows_query(std::iter::empty(), '"'), None);
        let quoted = count_rows_query(["public.events"].into_iter(), '\0').unwrap();
        assert_eq!(quoted, "SELECT (SELECT count(*) FROM public.events);");
    }

    #[test]
    fn sqlite_file_measured() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("bench.db");
        std::fs::write(&path, vec![0u8; 4_096]).unwrap();
        std::fs::write(directory.path().join("bench.db-wal"), vec![0u8; 1_000]).unwrap();
        assert_eq!(sqlite_file_bytes(&path), Some(5_096));
        assert_eq!(
            sqlite_file_bytes(&directory.path().join("missing.db")),
            None
        );
    }

    #[test]
    fn missing_client_reported() {
        let error = run_client("tern-bench-no-such-program", &[]).unwrap_err();
        assert_eq!(error, "`tern-bench-no-such-program` is not installed");
    }
}
