//! Black-box test harness: each [`TestApp`] starts the real `nexgate-host` binary on a random port
//! with the real `.wasm` files, against a freshly created database (dropped afterwards), its own
//! Redis key prefix and event topic prefix, so tests and whole runs go side by side.
//!
//! The stores must be running (`infra/setup-stores.sh`, which `scripts/test.sh` runs first) and the
//! binaries and components built (`scripts/test.sh` does that too). Tests never link wasmtime.

pub mod auth;
pub mod bench;
pub mod faults;
pub mod files;
pub mod notify;
pub mod oauth;
pub mod payments;
pub mod realtime;
pub mod sandbox;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

/// Settings of the local stores, read from `infra/local.env`.
#[derive(Debug, Clone)]
pub struct LocalEnv {
    values: std::collections::HashMap<String, String>,
}

impl LocalEnv {
    pub fn load() -> Self {
        let text =
            std::fs::read_to_string(repo_root().join("infra/local.env")).expect("infra/local.env");
        let values = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        Self { values }
    }

    pub fn get(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{key} missing from infra/local.env"))
    }

    /// Server URL for `role`, without a database.
    pub fn server_url(&self, role: &str) -> String {
        format!(
            "postgres://{role}:{}@{}:{}",
            self.get("PG_PASSWORD"),
            self.get("PG_HOST"),
            self.get("PG_PORT")
        )
    }

    /// Database URL for `role` on `db`.
    pub fn db_url(&self, role: &str, db: &str) -> String {
        format!("{}/{db}?sslmode=disable", self.server_url(role))
    }

    /// The AMQP URL of the broker user `user` (`infra/rabbitmq/identities.toml`), with the
    /// password `infra/setup-stores.sh` made for it.
    pub fn amqp_url(&self, user: &str) -> String {
        format!(
            "amqp://{user}:{}@127.0.0.1:{}/%2f",
            self.broker_password(user),
            self.get("AMQP_PORT")
        )
    }

    /// The password of a broker user, as `infra/setup-stores.sh` keeps it.
    pub fn broker_password(&self, user: &str) -> String {
        let path =
            std::path::Path::new(self.get("BROKER_PASSWORD_DIR")).join(format!("{user}.password"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run infra/setup-stores.sh)", path.display()))
            .trim()
            .to_string()
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub(crate) fn binary(name: &str, env_var: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env_var) {
        return PathBuf::from(p);
    }
    let target = std::env::var("NEXGATE_NATIVE_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/nexgate/target")
        });
    target.join("release").join(name)
}

/// The host binary (`NEXGATE_HOST_BIN`, else the release build in the shared target folder).
pub fn host_bin() -> PathBuf {
    binary("nexgate-host", "NEXGATE_HOST_BIN")
}

/// The ops binary (`NEXGATE_OPS_BIN`, else the release build in the shared target folder).
pub fn ops_bin() -> PathBuf {
    binary("nexgate-ops", "NEXGATE_OPS_BIN")
}

/// The media worker binary (`NEXGATE_MEDIA_WORKER_BIN`, else the release build in the shared
/// target folder).
pub fn media_worker_bin() -> PathBuf {
    binary("nexgate-media-worker", "NEXGATE_MEDIA_WORKER_BIN")
}

pub fn notifier_bin() -> PathBuf {
    binary("nexgate-notifier", "NEXGATE_NOTIFIER_BIN")
}

/// Serves HTTP/1.1 on `listener` in the background, each request answered by `answer` (the
/// provider simulators' server loop).
pub fn serve_http<A, Fut>(listener: tokio::net::TcpListener, answer: A)
where
    A: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let fut = answer(req);
                    async move { Ok::<_, std::convert::Infallible>(fut.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// A unique short id for names (databases, prefixes).
pub fn unique_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "{secs}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Which manifest a test app runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manifest {
    /// The application's `spin.toml`.
    App,
    /// `tests/fixtures/spin.toml` (the probe component).
    Fixture,
}

/// A fresh database, dropped (forcefully) when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub notifications_name: String,
    env: LocalEnv,
}

impl TestDatabase {
    /// Creates and migrates a database (and its notifications twin) through `nexgate-ops migrate`.
    pub fn create(extra_migrations: bool) -> Result<Self> {
        let env = LocalEnv::load();
        sweep_stale_databases(&env);
        let id = unique_id();
        let db = Self {
            name: format!("nexgate_test_{id}"),
            notifications_name: format!("notifications_test_{id}"),
            env,
        };
        let mut cmd = Command::new(ops_bin());
        cmd.args([
            "migrate",
            "--server-url",
            &db.env.server_url("nexgate_admin"),
        ])
        .args([
            "--database",
            &db.name,
            "--notifications-database",
            &db.notifications_name,
        ])
        .arg("--migrations-dir")
        .arg(repo_root().join("migrations"));
        if extra_migrations {
            cmd.arg("--extra-dir")
                .arg(repo_root().join("tests/fixtures/migrations"));
        }
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", ops_bin().display()))?;
        if !out.status.success() {
            bail!("migrate failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(db)
    }

    pub fn url(&self, role: &str) -> String {
        self.env.db_url(role, &self.name)
    }

    /// A connected admin client (superuser) for assertions.
    pub async fn admin(&self) -> tokio_postgres::Client {
        let (client, conn) =
            tokio_postgres::connect(&self.url("nexgate_admin"), tokio_postgres::NoTls)
                .await
                .expect("admin connection");
        tokio::spawn(conn);
        client
    }
}

fn psql_admin(env: &LocalEnv, sql: &str) -> Option<String> {
    let out = Command::new("psql")
        .arg(env.db_url("nexgate_admin", "postgres"))
        .args(["-qtAc", sql])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Drops test databases left by runs that were killed more than six hours ago.
fn sweep_stale_databases(env: &LocalEnv) {
    let Some(list) = psql_admin(
        env,
        "SELECT datname FROM pg_database WHERE datname ~ '^(nexgate|notifications)_test_[0-9]+_'",
    ) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for name in list.lines() {
        let secs: u64 = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(now);
        if now.saturating_sub(secs) > 6 * 3600 {
            psql_admin(
                env,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            );
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        for name in [&self.name, &self.notifications_name] {
            psql_admin(
                &self.env,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            );
        }
    }
}

/// Options for starting a host.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Extra command-line flags (`--instances-max 2`).
    pub args: Vec<String>,
    /// Extra or overriding environment variables (`SPIN_VARIABLE_*`).
    pub env: Vec<(String, String)>,
}

/// A running host process with its log captured to a file.
pub struct HostProcess {
    child: Child,
    pub base_url: String,
    log: Arc<Mutex<String>>,
}

/// `nexgate-host up --from <manifest>` on a free port with extra environment and flags.
fn host_command(manifest: &Path, env: &[(String, String)], args: &[String]) -> Command {
    let mut cmd = Command::new(host_bin());
    cmd.arg("up")
        .arg("--from")
        .arg(manifest)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().cloned());
    cmd
}

/// Appends one line to a captured log.
fn append_line(log: &Mutex<String>, line: &str) {
    let mut l = log.lock().unwrap();
    l.push_str(line);
    l.push('\n');
}

impl HostProcess {
    /// Starts `nexgate-host up` and waits for its `listening on` line.
    pub fn start(manifest: &Path, env: &[(String, String)], args: &[String]) -> Result<Self> {
        let mut child = host_command(manifest, env, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {}; build it with scripts/build.sh",
                    host_bin().display()
                )
            })?;
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                append_line(&log_writer, &line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        let _ = tx.send(url.to_string());
                        sent = true;
                        continue;
                    }
                }
                append_line(&log_writer, &line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base_url) => Ok(Self {
                child,
                base_url,
                log,
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                bail!(
                    "the host did not start ({status:?}):\n{}",
                    log.lock().unwrap()
                )
            }
        }
    }

    /// Runs the host to completion expecting it to refuse to start; returns its stderr.
    pub fn expect_refusal(
        manifest: &Path,
        env: &[(String, String)],
        args: &[String],
    ) -> (bool, String) {
        let out = host_command(manifest, env, args)
            .stdin(Stdio::null())
            .output()
            .expect("run host");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// What the host has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the host's log contains `needle` (log lines arrive through a reader thread, a
    /// moment after the response they describe).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- host log (last lines) ----");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// A native worker (`nexgate-ops relay|dispatcher|...`) killed on drop.
pub struct Worker {
    child: Child,
    pub name: String,
}

impl Worker {
    pub fn start(name: &str, args: &[String], env: &[(String, String)]) -> Result<Self> {
        Self::start_program(&ops_bin(), name, args, env)
    }

    /// Starts any native program of the project (the media worker).
    pub fn start_program(
        program: &Path,
        name: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<Self> {
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().cloned())
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Self {
            child,
            name: name.to_string(),
        })
    }
}

impl Worker {
    /// The process id (to read its memory in benchmarks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the program is still running (a worker must survive a store restart).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it and returns what it wrote to stderr (its log).
    pub fn stop_and_read_log(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        if std::thread::panicking() {
            if let Some(mut e) = self.child.stderr.take() {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                eprintln!("---- {} log ----\n{s}", self.name);
            }
        }
        let _ = self.child.wait();
    }
}

/// A fresh Ed25519 key pair for access tokens: (private JWK, public JWKS), as JSON.
/// The ticket signing key of this test process (RSA-2048 takes a while to make, so one per
/// process): the PKCS#8 PEM, its id, and the public JWKS.
pub struct TicketKeys {
    pub pem: String,
    pub kid: String,
    pub jwks: String,
}

pub fn ticket_keys() -> &'static TicketKeys {
    static KEYS: std::sync::OnceLock<TicketKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let kid = format!("{:08x}", rand::random::<u32>());
        let (pem, jwk) = nexgate_ticketing::qr::new_key(&kid).expect("ticket key");
        TicketKeys {
            pem,
            kid,
            jwks: serde_json::json!({ "keys": [jwk] }).to_string(),
        }
    })
}

pub fn new_jwt_keys() -> (String, String) {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("randomness");
    let kid = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let signer = nexgate_authn::jwt::TokenSigner::from_secret_bytes(&kid, &secret);
    let jwks = nexgate_authn::jwt::Jwks {
        keys: vec![signer.public_jwk()],
    };
    (
        serde_json::to_string(&signer.private_jwk()).unwrap(),
        serde_json::to_string(&jwks).unwrap(),
    )
}

/// A running application for one test: database, prefixes, host.
pub struct TestApp {
    pub db: TestDatabase,
    pub host: HostProcess,
    /// Unique per app: Redis keys start with `{prefix}:`, MQTT topics with `{prefix}/`.
    pub prefix: String,
    pub env: LocalEnv,
    pub http: reqwest::Client,
    /// The internal token the fixture's probe expects.
    pub probe_token: String,
    /// The private JWK the app's auth components sign access tokens with (`jwt_private_key`).
    pub jwt_private_jwk: String,
    /// What `/internal/auth/...` routes demand (`auth_internal_token`).
    pub auth_internal_token: String,
    /// What `/internal/profiles/...` routes demand (`profiles_internal_token`).
    pub profiles_internal_token: String,
    /// What `/internal/files/...` routes demand (`files_internal_token`).
    pub files_internal_token: String,
    /// What `/internal/payments/...` routes demand (`payments_internal_token`).
    pub payments_internal_token: String,
    /// What `/internal/commerce/...` routes demand (`commerce_internal_token`).
    pub commerce_internal_token: String,
    /// What `/internal/events/...` routes demand (`events_internal_token`).
    pub events_internal_token: String,
    /// What `/internal/social/...` routes demand (`social_internal_token`).
    pub social_internal_token: String,
    /// What `/internal/dm/...` routes demand (`dm_internal_token`).
    pub dm_internal_token: String,
    /// The notifier's sealing key pair for this app (private, public; base64url): producers seal
    /// one-time secrets to the public key, the app's notifier opens them with the private one.
    pub seal_keys: (String, String),
}

impl TestApp {
    /// Starts `manifest` with default options.
    pub async fn start(manifest: Manifest) -> Self {
        Self::start_with(manifest, HostOptions::default()).await
    }

    /// Starts `manifest` with extra flags and environment.
    pub async fn start_with(manifest: Manifest, options: HostOptions) -> Self {
        let env = LocalEnv::load();
        let db = tokio::task::spawn_blocking(move || {
            TestDatabase::create(manifest == Manifest::Fixture)
        })
        .await
        .unwrap()
        .expect("test database");
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let probe_token = format!("probe-token-{}", uuid::Uuid::new_v4().simple());
        let (jwt_private_jwk, jwt_public_keys) = new_jwt_keys();
        let auth_internal_token = format!("auth-token-{}", uuid::Uuid::new_v4().simple());
        let profiles_internal_token = format!("profiles-token-{}", uuid::Uuid::new_v4().simple());
        let files_internal_token = format!("files-token-{}", uuid::Uuid::new_v4().simple());
        let payments_internal_token = format!("payments-token-{}", uuid::Uuid::new_v4().simple());
        let commerce_internal_token = format!("commerce-token-{}", uuid::Uuid::new_v4().simple());
        let events_internal_token = format!("events-token-{}", uuid::Uuid::new_v4().simple());
        let social_internal_token = format!("social-token-{}", uuid::Uuid::new_v4().simple());
        let dm_internal_token = format!("dm-token-{}", uuid::Uuid::new_v4().simple());
        let seal_keys = nexgate_events::sealed::generate_key_pair();
        let mut vars: Vec<(String, String)> = vec![
            (
                "SPIN_VARIABLE_REDIS_KEY_PREFIX".into(),
                format!("{prefix}:"),
            ),
            ("SPIN_VARIABLE_EVENT_TOPIC_PREFIX".into(), prefix.clone()),
        ];
        // Each publishing service's broker user (the app), or the probe's (the fixture).
        let publishers: &[&str] = match manifest {
            Manifest::App => &[
                "health", "auth", "profiles", "files", "payments", "commerce", "events", "social",
                "dm",
            ],
            Manifest::Fixture => &["probe"],
        };
        for service in publishers {
            vars.push((
                format!("SPIN_VARIABLE_{}_MQTT_PASSWORD", service.to_uppercase()),
                env.broker_password(&format!("nexgate-{service}")),
            ));
        }
        let (manifest_path, kv_args) = match manifest {
            Manifest::App => {
                vars.push((
                    "SPIN_VARIABLE_HEALTH_DB_URL".into(),
                    db.url("nexgate_health"),
                ));
                vars.push(("SPIN_VARIABLE_AUTH_DB_URL".into(), db.url("nexgate_auth")));
                vars.push((
                    "SPIN_VARIABLE_NOTIFIER_PUBLIC_KEY".into(),
                    seal_keys.1.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_PROFILES_DB_URL".into(),
                    db.url("nexgate_profiles"),
                ));
                vars.push((
                    "SPIN_VARIABLE_JWT_PRIVATE_KEY".into(),
                    jwt_private_jwk.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_JWT_PUBLIC_KEYS".into(),
                    jwt_public_keys.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_AUTH_INTERNAL_TOKEN".into(),
                    auth_internal_token.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_PROFILES_INTERNAL_TOKEN".into(),
                    profiles_internal_token.clone(),
                ));
                vars.push(("SPIN_VARIABLE_FILES_DB_URL".into(), db.url("nexgate_files")));
                vars.push((
                    "SPIN_VARIABLE_FILES_INTERNAL_TOKEN".into(),
                    files_internal_token.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_PAYMENTS_DB_URL".into(),
                    db.url("nexgate_payments"),
                ));
                vars.push((
                    "SPIN_VARIABLE_NOTIFICATIONS_DB_URL".into(),
                    env.db_url("nexgate_notifications", &db.notifications_name),
                ));
                vars.push((
                    "SPIN_VARIABLE_NOTIFICATIONS_SESSIONS_DB_URL".into(),
                    db.url("nexgate_notifications"),
                ));
                vars.push((
                    "SPIN_VARIABLE_PAYMENTS_INTERNAL_TOKEN".into(),
                    payments_internal_token.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_COMMERCE_DB_URL".into(),
                    db.url("nexgate_commerce"),
                ));
                vars.push((
                    "SPIN_VARIABLE_COMMERCE_INTERNAL_TOKEN".into(),
                    commerce_internal_token.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_EVENTS_DB_URL".into(),
                    db.url("nexgate_events"),
                ));
                vars.push((
                    "SPIN_VARIABLE_SOCIAL_DB_URL".into(),
                    db.url("nexgate_social"),
                ));
                vars.push(("SPIN_VARIABLE_DM_DB_URL".into(), db.url("nexgate_dm")));
                vars.push((
                    "SPIN_VARIABLE_DM_INTERNAL_TOKEN".into(),
                    dm_internal_token.clone(),
                ));
                vars.push((
                    "SPIN_VARIABLE_SOCIAL_INTERNAL_TOKEN".into(),
                    social_internal_token.clone(),
                ));
                let tickets = ticket_keys();
                vars.extend([
                    (
                        "SPIN_VARIABLE_EVENTS_INTERNAL_TOKEN".into(),
                        events_internal_token.clone(),
                    ),
                    (
                        "SPIN_VARIABLE_TICKET_SIGNING_KEY".into(),
                        tickets.pem.clone(),
                    ),
                    (
                        "SPIN_VARIABLE_TICKET_SIGNING_KEY_ID".into(),
                        tickets.kid.clone(),
                    ),
                    (
                        "SPIN_VARIABLE_TICKET_PUBLIC_KEYS".into(),
                        tickets.jwks.clone(),
                    ),
                ]);
                vars.push((
                    "SPIN_VARIABLE_MFA_ENCRYPTION_KEY".into(),
                    uuid::Uuid::new_v4().simple().to_string().repeat(2),
                ));
                vars.push((
                    "SPIN_VARIABLE_STORAGE_ACCESS_KEY".into(),
                    env.get("STORAGE_ACCESS_KEY").into(),
                ));
                vars.push((
                    "SPIN_VARIABLE_STORAGE_SECRET_KEY".into(),
                    env.get("STORAGE_SECRET_KEY").into(),
                ));
                (repo_root().join("spin.toml"), vec![])
            }
            Manifest::Fixture => {
                vars.push(("SPIN_VARIABLE_DB_URL".into(), db.url("nexgate_admin")));
                vars.push((
                    "SPIN_VARIABLE_PROBE_INTERNAL_TOKEN".into(),
                    probe_token.clone(),
                ));
                // As `spin up` would get them: the `default` store in a state folder of this
                // app's own, and a Redis store `cache` from a runtime config file.
                let state_dir = std::env::temp_dir().join(format!("nexgate-state-{prefix}"));
                std::fs::create_dir_all(&state_dir).expect("state folder");
                let runtime_config = state_dir.join("runtime-config.toml");
                std::fs::write(
                    &runtime_config,
                    format!(
                        "[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
                        env.get("REDIS_PORT")
                    ),
                )
                .expect("runtime config file");
                (
                    repo_root().join("tests/fixtures/spin.toml"),
                    vec![
                        "--runtime-config-file".to_string(),
                        runtime_config.display().to_string(),
                        "--state-dir".to_string(),
                        state_dir.display().to_string(),
                    ],
                )
            }
        };
        for (k, v) in options.env {
            vars.retain(|(existing, _)| *existing != k);
            vars.push((k, v));
        }
        let mut args = kv_args;
        args.extend(options.args);
        let host =
            tokio::task::spawn_blocking(move || HostProcess::start(&manifest_path, &vars, &args))
                .await
                .unwrap()
                .expect("host start");
        Self {
            db,
            host,
            prefix,
            env,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            probe_token,
            jwt_private_jwk,
            auth_internal_token,
            profiles_internal_token,
            files_internal_token,
            payments_internal_token,
            commerce_internal_token,
            events_internal_token,
            social_internal_token,
            dm_internal_token,
            seal_keys,
        }
    }

    /// A signer with the app's own access-token key (to forge tokens in tests).
    pub fn jwt_signer(&self) -> nexgate_authn::jwt::TokenSigner {
        nexgate_authn::jwt::TokenSigner::from_jwk_json(&self.jwt_private_jwk).expect("test JWK")
    }

    /// An absolute URL on the app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host.base_url)
    }

    /// GET and parse JSON; returns (status, body).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Starts a native worker with this app's prefix and database.
    pub fn worker(&self, name: &str, args: &[&str]) -> Worker {
        self.worker_with(name, args, &[])
    }

    /// [`TestApp::worker`] with extra environment, which wins over the defaults (a store's URL
    /// through a [`faults::TcpProxy`]).
    pub fn worker_with(&self, name: &str, args: &[&str], extra: &[(String, String)]) -> Worker {
        let mut full: Vec<String> = vec![name.to_string()];
        full.extend(args.iter().map(|s| s.to_string()));
        let mut env = vec![
            (
                "SPIN_VARIABLE_EVENT_TOPIC_PREFIX".to_string(),
                self.prefix.clone(),
            ),
            (
                "SPIN_VARIABLE_PROBE_INTERNAL_TOKEN".to_string(),
                self.probe_token.clone(),
            ),
            (
                "SPIN_VARIABLE_AUTH_INTERNAL_TOKEN".to_string(),
                self.auth_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_PROFILES_INTERNAL_TOKEN".to_string(),
                self.profiles_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_FILES_INTERNAL_TOKEN".to_string(),
                self.files_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_PAYMENTS_INTERNAL_TOKEN".to_string(),
                self.payments_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_COMMERCE_INTERNAL_TOKEN".to_string(),
                self.commerce_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_EVENTS_INTERNAL_TOKEN".to_string(),
                self.events_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_SOCIAL_INTERNAL_TOKEN".to_string(),
                self.social_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_DM_INTERNAL_TOKEN".to_string(),
                self.dm_internal_token.clone(),
            ),
            ("NEXGATE_BASE_URL".to_string(), self.host.base_url.clone()),
            (
                "NEXGATE_RELAY_DB_URL".to_string(),
                self.db.url("nexgate_relay"),
            ),
        ];
        // Each program on the bus connects as its own broker user; the scheduler is not on it.
        if matches!(name, "relay" | "dispatcher") {
            env.push((
                "NEXGATE_AMQP_URL".to_string(),
                self.env.amqp_url(&format!("nexgate-{name}")),
            ));
        }
        env.extend(extra.iter().cloned());
        Worker::start(name, &full, &env).expect("worker start")
    }

    /// Starts the media worker against this app (its queues expire with the test prefix).
    pub fn media_worker(&self) -> Worker {
        let env = vec![
            (
                "SPIN_VARIABLE_EVENT_TOPIC_PREFIX".to_string(),
                self.prefix.clone(),
            ),
            (
                "SPIN_VARIABLE_FILES_INTERNAL_TOKEN".to_string(),
                self.files_internal_token.clone(),
            ),
            (
                "SPIN_VARIABLE_STORAGE_ACCESS_KEY".to_string(),
                self.env.get("STORAGE_ACCESS_KEY").to_string(),
            ),
            (
                "SPIN_VARIABLE_STORAGE_SECRET_KEY".to_string(),
                self.env.get("STORAGE_SECRET_KEY").to_string(),
            ),
            (
                "NEXGATE_AMQP_URL".to_string(),
                self.env.amqp_url("nexgate-media"),
            ),
            ("NEXGATE_BASE_URL".to_string(), self.host.base_url.clone()),
        ];
        Worker::start_program(
            &media_worker_bin(),
            "media-worker",
            &["--expires-ms".to_string(), "600000".to_string()],
            &env,
        )
        .expect("media worker start")
    }

    /// Starts the notifier against this app's prefix and notifications database (no gateways).
    pub fn notifier(&self) -> Worker {
        self.notifier_with(&[])
    }

    /// Starts the notifier with extra environment (gateways, retry settings).
    pub fn notifier_with(&self, extra: &[(String, String)]) -> Worker {
        let mut env = vec![
            (
                "NEXGATE_DIRECTORY_DB_URL".to_string(),
                self.env.db_url("nexgate_notifier", &self.db.name),
            ),
            ("NEXGATE_NOTIFIER_TICK_MS".to_string(), "100".to_string()),
            (
                "NEXGATE_NOTIFIER_SEAL_KEYS".to_string(),
                self.seal_keys.0.clone(),
            ),
            (
                "SPIN_VARIABLE_EVENT_TOPIC_PREFIX".to_string(),
                self.prefix.clone(),
            ),
            (
                "NEXGATE_AMQP_URL".to_string(),
                self.env.amqp_url("nexgate-notifier"),
            ),
            (
                "NEXGATE_NOTIFICATIONS_DB_URL".to_string(),
                self.env
                    .db_url("nexgate_notifications", &self.db.notifications_name),
            ),
        ];
        env.extend(extra.iter().cloned());
        Worker::start_program(
            &notifier_bin(),
            "notifier",
            &["--expires-ms".to_string(), "600000".to_string()],
            &env,
        )
        .expect("notifier start")
    }

    /// Declares the consuming services' queues of `subscriptions` under this app's prefix (expiring
    /// after ten idle minutes), as the set-up does before anything is served.
    pub fn declare_queues(&self, subscriptions: &str) {
        let out = Command::new(ops_bin())
            .args([
                "declare",
                "--subscriptions",
                subscriptions,
                "--expires-ms",
                "600000",
            ])
            .env("SPIN_VARIABLE_EVENT_TOPIC_PREFIX", &self.prefix)
            .env("NEXGATE_AMQP_URL", self.env.amqp_url("nexgate-admin"))
            .current_dir(repo_root())
            .output()
            .expect("run nexgate-ops declare");
        assert!(
            out.status.success(),
            "declare failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An observer of every event under this app's prefix.
    pub async fn observe_events(&self) -> EventObserver {
        let mut observer = EventObserver::bind(
            &self.env.amqp_url("nexgate-observer"),
            &format!("{}.#", self.prefix),
        )
        .await;
        observer.opening_keys = Some(std::sync::Arc::new(
            nexgate_events::sealed::OpeningKeys::parse(&self.seal_keys.0).expect("test seal key"),
        ));
        observer
    }
}

impl Drop for TestApp {
    /// Removes this app's Redis keys and state folder (best effort); the database goes with
    /// `TestDatabase`.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("nexgate-state-{}", self.prefix)),
        );
        let Ok(client) =
            redis::Client::open(format!("redis://127.0.0.1:{}", self.env.get("REDIS_PORT")))
        else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// A private, auto-deleted RabbitMQ queue bound to a routing pattern, for asserting events.
pub struct EventObserver {
    _conn: lapin::Connection,
    consumer: lapin::Consumer,
    /// The app's notifier keys, for tests that open sealed secrets as the notifier would.
    opening_keys: Option<std::sync::Arc<nexgate_events::sealed::OpeningKeys>>,
}

impl EventObserver {
    pub async fn bind(amqp_url: &str, pattern: &str) -> Self {
        let conn = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ connection (is it running? infra/setup-stores.sh)");
        let channel = conn.create_channel().await.unwrap();
        let queue = format!("observer.{}", uuid::Uuid::new_v4().simple());
        channel
            .queue_declare(
                &queue,
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                &queue,
                "amq.topic",
                pattern,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                &queue,
                "observer",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Self {
            _conn: conn,
            consumer,
            opening_keys: None,
        }
    }

    /// Every message that arrives until none has for `quiet`: (routing key, raw body).
    pub async fn drain(&mut self, quiet: Duration) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while let Ok(Some(Ok(delivery))) = tokio::time::timeout(quiet, self.consumer.next()).await {
            let _ = delivery.ack(BasicAckOptions::default()).await;
            out.push((delivery.routing_key.to_string(), delivery.data.clone()));
        }
        out
    }

    /// `data` with its sealed one-time secrets opened with the app's notifier key (what the
    /// notifier does; the bus itself only ever carries the ciphertext).
    pub fn open_sealed(&self, data: &serde_json::Value) -> serde_json::Value {
        let keys = self
            .opening_keys
            .as_ref()
            .expect("an observer from TestApp::observe_events");
        keys.open(data)
            .expect("sealed secrets open with the app's key")
    }

    /// Waits for the next event whose routing key and body satisfy `pred`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&str, &serde_json::Value) -> bool,
    ) -> Option<(String, serde_json::Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let next = tokio::time::timeout(left, self.consumer.next())
                .await
                .ok()??;
            let delivery = next.ok()?;
            let _ = delivery.ack(BasicAckOptions::default()).await;
            let key = delivery.routing_key.to_string();
            let body: serde_json::Value =
                serde_json::from_slice(&delivery.data).unwrap_or(serde_json::Value::Null);
            if pred(&key, &body) {
                return Some((key, body));
            }
        }
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
