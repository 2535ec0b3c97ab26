//! `nexgate-ops migrate`: applies the SQL migrations of one database, in order, once each.
//!
//! Files are named `<UTC timestamp>_<service>_<what>.sql`. A service's migration runs as that
//! service's role (`SET LOCAL ROLE nexgate_<service>`) inside a schema it owns, so what it creates
//! belongs to it; `platform` migrations run as the administrator. Each file runs in one transaction
//! together with its ledger row (`public.schema_migrations`: version, name, SHA-256). A file whose
//! checksum differs from the recorded one stops the run: landed migrations are never edited.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, NoTls};

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: String,
    pub service: String,
    pub name: String,
    pub sql: String,
    pub checksum: String,
}

/// Reads and orders the migrations in `dir`; a badly named file is an error naming it.
pub fn read_dir(dir: &Path) -> Result<Vec<Migration>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let stem = file.trim_end_matches(".sql");
        let mut parts = stem.splitn(3, '_');
        let (Some(version), Some(service), Some(what)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("{file}: name it <UTC timestamp>_<service>_<what>.sql");
        };
        if version.len() != 14 || !version.bytes().all(|b| b.is_ascii_digit()) {
            bail!("{file}: the timestamp must be 14 digits (YYYYMMDDHHMMSS)");
        }
        if service.is_empty() || !service.bytes().all(|b| b.is_ascii_lowercase()) {
            bail!("{file}: the service must be a schema name in lowercase letters");
        }
        let sql = std::fs::read_to_string(&path).with_context(|| format!("cannot read {file}"))?;
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        out.push(Migration {
            version: version.to_string(),
            service: service.to_string(),
            name: what.to_string(),
            sql,
            checksum,
        });
    }
    for pair in out.windows(2) {
        if pair[0].version == pair[1].version {
            bail!("two migrations share the timestamp {}", pair[0].version);
        }
    }
    Ok(out)
}

/// Creates `database` if it does not exist, connecting through `admin_url`'s server.
pub async fn ensure_database(admin_url: &str, database: &str) -> Result<()> {
    check_identifier(database)?;
    let (client, conn) = tokio_postgres::connect(admin_url, NoTls)
        .await
        .with_context(|| "cannot connect to PostgreSQL as the administrator; is it running (infra/setup-stores.sh)?")?;
    tokio::spawn(conn);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await?
        .is_some();
    if !exists {
        // CREATE DATABASE cannot take parameters; the name was checked above.
        if let Err(e) = client
            .batch_execute(&format!("CREATE DATABASE \"{database}\""))
            .await
        {
            // Another migrator may have created it meanwhile.
            if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) {
                return Err(e).context("CREATE DATABASE failed");
            }
        }
    }
    Ok(())
}

fn check_identifier(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 63
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        bail!("`{name}` is not a valid database name (lowercase letters, digits, `_`)");
    }
    Ok(())
}

/// What one run did.
#[derive(Debug, Default)]
pub struct Report {
    pub applied: Vec<String>,
    pub already: usize,
}

/// Applies the pending migrations of `dir` to the database at `url` (an administrator's URL).
pub async fn apply(url: &str, dir: &Path) -> Result<Report> {
    let migrations = read_dir(dir)?;
    let (mut client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .context("cannot connect")?;
    tokio::spawn(conn);
    client
        .batch_execute(
            "SET client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS public.schema_migrations (
                 version text PRIMARY KEY,
                 service text NOT NULL,
                 name text NOT NULL,
                 checksum text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .context("cannot create the migrations ledger")?;
    // One migrator at a time per database.
    client
        .execute("SELECT pg_advisory_lock(7461001)", &[])
        .await?;
    let result = apply_locked(&mut client, &migrations).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock(7461001)", &[])
        .await;
    result
}

async fn apply_locked(client: &mut Client, migrations: &[Migration]) -> Result<Report> {
    let mut report = Report::default();
    for m in migrations {
        let recorded = client
            .query_opt(
                "SELECT checksum FROM public.schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .await?;
        if let Some(row) = recorded {
            let checksum: String = row.get(0);
            if checksum != m.checksum {
                bail!(
                    "migration {}_{}_{}.sql was changed after it was applied (checksum {} recorded, {} now); \
                     landed migrations are never edited: add a new one instead",
                    m.version, m.service, m.name, &checksum[..12], &m.checksum[..12]
                );
            }
            report.already += 1;
            continue;
        }
        let tx = client.transaction().await?;
        if m.service != "platform" {
            let role = format!("nexgate_{}", m.service);
            check_identifier(&role)?;
            let role_exists = tx
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
                .await?
                .is_some();
            if !role_exists {
                bail!("role {role} does not exist; run infra/setup-stores.sh (it creates every service's role)");
            }
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{0}\" AUTHORIZATION {1}; SET LOCAL ROLE {1}; SET LOCAL search_path = \"{0}\", public",
                m.service, role
            ))
            .await?;
        }
        tx.batch_execute(&m.sql).await.with_context(|| {
            format!(
                "migration {}_{}_{}.sql failed",
                m.version, m.service, m.name
            )
        })?;
        tx.batch_execute("RESET ROLE; RESET search_path").await?;
        tx.execute(
            "INSERT INTO public.schema_migrations (version, service, name, checksum) VALUES ($1, $2, $3, $4)",
            &[&m.version, &m.service, &m.name, &m.checksum],
        )
        .await?;
        tx.commit().await?;
        report
            .applied
            .push(format!("{}_{}_{}", m.version, m.service, m.name));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempdir::Dir {
        let d = tempdir::Dir::new();
        for (name, sql) in files {
            std::fs::write(d.path().join(name), sql).unwrap();
        }
        d
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir()
                    .join(format!("nexgate-migrate-test-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn migrations_are_ordered_by_timestamp_and_parsed() {
        let d = dir_with(&[
            ("20261201000000_auth_sessions.sql", "SELECT 2;"),
            ("20261129000000_platform_foundation.sql", "SELECT 1;"),
            ("README.md", "ignored"),
        ]);
        let m = read_dir(d.path()).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].service, "platform");
        assert_eq!(m[1].service, "auth");
        assert_eq!(m[1].name, "sessions");
        assert_eq!(m[1].checksum.len(), 64);
    }

    #[test]
    fn bad_names_are_refused_with_the_file_named() {
        let d = dir_with(&[("2026_auth_x.sql", "")]);
        let err = read_dir(d.path()).unwrap_err().to_string();
        assert!(err.contains("2026_auth_x.sql"), "{err}");
        let d = dir_with(&[("20261129000000_Auth_x.sql", "")]);
        assert!(read_dir(d.path()).is_err());
    }

    #[test]
    fn duplicate_timestamps_are_refused() {
        let d = dir_with(&[
            ("20261129000000_auth_a.sql", ""),
            ("20261129000000_profiles_b.sql", ""),
        ]);
        assert!(read_dir(d.path()).is_err());
    }
}
