//! `nexgate-ops seed-users`: many ready accounts at once, for tests and benchmarks (hundreds in a
//! test, 10,000 in a benchmark seed) without going through registration, so production limits
//! (registrations per address and client, login limits) stay as they are.
//!
//! Each account gets a verified email `<prefix><n>@seed.nexgate.test`, the username
//! `<prefix><n>`, a profile, and one password shared by all (hashed once, with the same argon2id
//! parameters as registration, so the accounts log in through the real API). It writes only to
//! databases whose name starts with `nexgate_test_` or `nexgate_bench` unless told otherwise: a
//! shared password has no place in production. Prints one line per account: `id username email`.

use anyhow::{bail, Context, Result};
use uuid::Uuid;

/// The most accounts one call makes.
pub const SEED_USERS_MAX: u32 = 100_000;

/// One seeded account.
pub struct Seeded {
    pub id: Uuid,
    pub username: String,
    pub email: String,
}

/// `nexgate-ops seed-users` arguments.
#[derive(clap::Args)]
pub struct SeedArgs {
    /// An administrator's URL of the main database (a nexgate_test_* or nexgate_bench* one).
    #[arg(long, env = "NEXGATE_ADMIN_DB_URL")]
    database_url: String,
    #[arg(long)]
    count: u32,
    /// Usernames are `<prefix><n>`, emails `<prefix><n>@seed.nexgate.test`.
    #[arg(long)]
    prefix: String,
    #[arg(long, env = "NEXGATE_SEED_PASSWORD")]
    password: String,
    /// Allow a database whose name does not say it is for tests or benchmarks.
    #[arg(long)]
    any_database: bool,
}

/// Seeds, then prints `id username email` per account.
pub async fn run(a: SeedArgs) -> Result<()> {
    let seeded = seed_users(
        &a.database_url,
        a.count,
        &a.prefix,
        &a.password,
        a.any_database,
    )
    .await?;
    for s in &seeded {
        println!("{} {} {}", s.id, s.username, s.email);
    }
    tracing::info!("seeded {} accounts", seeded.len());
    Ok(())
}

/// Whether seeding may write to `database_url`'s database.
fn allowed(database_url: &str, any_database: bool) -> bool {
    let name = database_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    any_database || name.starts_with("nexgate_test_") || name.starts_with("nexgate_bench")
}

/// Makes `count` accounts named `<prefix><n>` (n from 1), in one transaction.
pub async fn seed_users(
    database_url: &str,
    count: u32,
    prefix: &str,
    password: &str,
    any_database: bool,
) -> Result<Vec<Seeded>> {
    if !allowed(database_url, any_database) {
        bail!("seed-users writes only to nexgate_test_* and nexgate_bench* databases (shared password); pass --any-database to override");
    }
    if count == 0 || count > SEED_USERS_MAX {
        bail!("--count must be 1 to {SEED_USERS_MAX}");
    }
    let prefix_ok = (1..=12).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && prefix.as_bytes()[0].is_ascii_lowercase();
    if !prefix_ok {
        bail!("--prefix must be 1 to 12 characters of a-z, 0-9 and _, starting with a letter");
    }
    if password.chars().count() < 10 {
        bail!("--password must be at least 10 characters (the registration rule)");
    }
    let hash = nexgate_auth::password::hash(password)?;
    let (mut client, conn) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .context("connecting to the database")?;
    tokio::spawn(conn);
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "WITH made AS (
                 SELECT gen_random_uuid() AS id, $1::text || n AS username
                 FROM generate_series(1, $2::int) n),
             accounts AS (
                 INSERT INTO auth.accounts (id, email, email_verified_at, password_hash)
                 SELECT id, username || '@seed.nexgate.test', now(), $3 FROM made
                 RETURNING id, email)
             SELECT m.id, m.username, a.email FROM made m JOIN accounts a ON a.id = m.id
             ORDER BY m.username",
            &[&prefix, &(count as i32), &hash],
        )
        .await
        .context("creating the accounts (is a name with this prefix taken?)")?;
    let seeded: Vec<Seeded> = rows
        .iter()
        .map(|r| Seeded {
            id: r.get(0),
            username: r.get(1),
            email: r.get(2),
        })
        .collect();
    let ids: Vec<Uuid> = seeded.iter().map(|s| s.id).collect();
    let names: Vec<&str> = seeded.iter().map(|s| s.username.as_str()).collect();
    // One round trip for every profile, through the same function registration uses.
    tx.execute(
        "SELECT count(profiles.create_profile(s.id, s.username, s.username))
         FROM unnest($1::uuid[], $2::text[]) AS s(id, username)",
        &[&ids, &names],
    )
    .await
    .context("creating the profiles")?;
    tx.commit().await?;
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_test_and_bench_databases_unless_told() {
        assert!(allowed(
            "postgres://a:b@h:5432/nexgate_test_01ab?sslmode=disable",
            false
        ));
        assert!(allowed("postgres://a:b@h:5432/nexgate_bench_graph", false));
        assert!(!allowed("postgres://a:b@h:5432/nexgate", false));
        assert!(allowed("postgres://a:b@h:5432/nexgate", true));
    }
}
