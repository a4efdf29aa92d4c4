//! Schema migrations, compiled into the binary.
//!
//! Each backend has its own folder, `migrations/sqlite` and
//! `migrations/postgres`, with files named `<VERSION>_<DESCRIPTION>.sql` as
//! sqlx-cli creates them. The lists below embed those files. Applied versions
//! are recorded in sqlx's `_sqlx_migrations` table with the same checksums
//! that `sqlx::migrate!` would record, so either way of embedding can take
//! over a database from the other.

use std::future::{Future, ready};
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

/// One migration file, embedded at compile time.
#[derive(Debug)]
pub(crate) struct EmbeddedMigration {
    pub(crate) version: i64,
    /// The file name's part after the version, with `_` read as a space.
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

// A new migration file must be added to its list here; the test below fails
// until it is.
pub(crate) const SQLITE: &[EmbeddedMigration] = &[EmbeddedMigration {
    version: 1,
    description: "initial schema",
    sql: include_str!("../migrations/sqlite/0001_initial_schema.sql"),
}];

pub(crate) const POSTGRES: &[EmbeddedMigration] = &[EmbeddedMigration {
    version: 1,
    description: "initial schema",
    sql: include_str!("../migrations/postgres/0001_initial_schema.sql"),
}];

/// Builds a migrator over the embedded list.
pub(crate) async fn migrator(
    migrations: &'static [EmbeddedMigration],
) -> Result<Migrator, MigrateError> {
    Migrator::new(Embedded(migrations)).await
}

#[derive(Debug)]
struct Embedded(&'static [EmbeddedMigration]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = self
            .0
            .iter()
            .map(|embedded| {
                Migration::new(
                    embedded.version,
                    embedded.description.into(),
                    MigrationType::Simple,
                    embedded.sql.into(),
                    false,
                )
            })
            .collect();
        Box::pin(ready(Ok(migrations)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Checks that `list` embeds exactly the `.sql` files of `folder`.
    fn assert_embeds_folder(list: &[EmbeddedMigration], folder: &str) {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder);
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&directory)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
            .map(|entry| entry.expect("readable directory entry").path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "sql"))
            .map(|path| {
                let stem = path
                    .file_stem()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned();
                let (version, description) = stem
                    .split_once('_')
                    .expect("file name `<VERSION>_<DESCRIPTION>.sql`");
                let version = version.parse().expect("numeric migration version");
                let sql = std::fs::read_to_string(&path).expect("readable migration file");
                (version, description.replace('_', " "), sql)
            })
            .collect();
        files.sort();

        let embedded: Vec<(i64, String, String)> = list
            .iter()
            .map(|migration| {
                (
                    migration.version,
                    migration.description.to_string(),
                    migration.sql.to_string(),
                )
            })
            .collect();
        assert_eq!(
            embedded, files,
            "the list for `{folder}` differs from its folder"
        );
    }

    #[test]
    fn sqlite_list_matches_folder() {
        assert_embeds_folder(SQLITE, "sqlite");
    }

    #[test]
    fn postgres_list_matches_folder() {
        assert_embeds_folder(POSTGRES, "postgres");
    }
}
