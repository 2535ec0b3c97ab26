//! `nexgate-ops migrate`: once each, in order, checksummed, run as the owning service's role.

use std::process::Command;

use nexgate_tests::{ops_bin, repo_root, unique_id, LocalEnv, TestDatabase};

#[test]
fn migrating_twice_changes_nothing_and_an_edited_migration_is_refused() {
    let env = LocalEnv::load();
    let dir = std::env::temp_dir().join(format!("nexgate-migrations-{}", unique_id()));
    std::fs::create_dir_all(dir.join("nexgate")).unwrap();
    std::fs::create_dir_all(dir.join("notifications")).unwrap();
    for sub in ["nexgate", "notifications"] {
        for entry in std::fs::read_dir(repo_root().join("migrations").join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(sub).join(entry.file_name())).unwrap();
        }
    }
    let id = unique_id();
    let (db, ndb) = (
        format!("nexgate_test_{id}"),
        format!("notifications_test_{id}"),
    );
    let migrate = || {
        Command::new(ops_bin())
            .args([
                "migrate",
                "--server-url",
                &env.server_url("nexgate_admin"),
                "--database",
                &db,
                "--notifications-database",
                &ndb,
            ])
            .arg("--migrations-dir")
            .arg(&dir)
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = migrate();
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("0 applied"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    let first_file = std::fs::read_dir(dir.join("nexgate"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut sql = std::fs::read_to_string(&first_file).unwrap();
    sql.push_str("\n-- edited\n");
    std::fs::write(&first_file, sql).unwrap();
    let third = migrate();
    assert!(!third.status.success());
    assert!(String::from_utf8_lossy(&third.stderr).contains("was changed after it was applied"));

    for name in [&db, &ndb] {
        Command::new("psql")
            .arg(env.db_url("nexgate_admin", "postgres"))
            .args([
                "-qtAc",
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            ])
            .output()
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn service_migrations_run_as_the_service_role_and_the_relay_can_read_outboxes() {
    let db = tokio::task::spawn_blocking(|| TestDatabase::create(true))
        .await
        .unwrap()
        .unwrap();
    let admin = db.admin().await;
    // The probe fixture ran as the administrator (platform_*), so install_service_tables granted the relay.
    let granted: bool = admin
        .query_one(
            "SELECT has_table_privilege('nexgate_relay', 'probe.outbox', 'UPDATE')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(granted);
    let recorded: i64 = admin
        .query_one("SELECT count(*) FROM public.schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(recorded >= 2);
}
