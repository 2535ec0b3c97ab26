//! `nexgate-ops`: the native programs that run beside the Spin application (locally or as
//! Deployments next to a SpinApp on Kubernetes).
//!
//! - `migrate`: applies `migrations/nexgate/` and `migrations/notifications/`, creating the databases;
//! - `declare`: declares every consuming service's queues and bindings (before anything is served);
//! - `relay`: republishes outbox rows a component did not mark published;
//! - `dispatcher`: delivers each consuming service's queue to `POST /internal/<service>/events`;
//! - `scheduler`: calls `POST /internal/<service>/jobs/<job>` on the schedule in one file;
//! - `jwt-keygen`, `seal-keygen`, `grant-role`, `revoke-role`: access-token keys, the notifier's
//!   sealing keys and roles (operators only).

mod accounts;
mod dispatcher;
mod migrate;
mod relay;
mod scheduler;
mod seed;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use nexgate_bus as bus;
use nexgate_bus::{QueueArgs, DEFAULT_AMQP_URL};

#[derive(Parser)]
#[command(
    name = "nexgate-ops",
    version,
    about = "Nexgate's native operations programs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the databases if missing and apply pending migrations.
    Migrate {
        /// Server URL of an administrator, without a database (`postgres://user:pw@host:5432`).
        #[arg(long, env = "NEXGATE_ADMIN_SERVER_URL")]
        server_url: String,
        /// Name of the main database.
        #[arg(long, default_value = "nexgate")]
        database: String,
        /// Name of the Notification Service's database.
        #[arg(long, default_value = "notifications")]
        notifications_database: String,
        /// Folder holding `nexgate/` and `notifications/`.
        #[arg(long, default_value = "migrations")]
        migrations_dir: PathBuf,
        /// Extra migration folders applied to the main database after `nexgate/` (test fixtures).
        #[arg(long)]
        extra_dir: Vec<PathBuf>,
    },
    /// Declare the consuming services' queues and bindings.
    Declare(QueueArgs),
    /// Republish stale, unmarked outbox rows.
    Relay {
        #[arg(long, env = "NEXGATE_RELAY_DB_URL")]
        database_url: String,
        #[arg(long, env = "NEXGATE_AMQP_URL", default_value = DEFAULT_AMQP_URL)]
        amqp_url: String,
        #[arg(long, default_value_t = 1_000)]
        interval_ms: u64,
        #[arg(long, default_value_t = 5_000)]
        stale_after_ms: u64,
    },
    /// Deliver each consuming service's queue to its `/internal/<service>/events` endpoint.
    Dispatcher {
        #[command(flatten)]
        queues: QueueArgs,
        /// Where the application serves (`http://127.0.0.1:3000`).
        #[arg(long, env = "NEXGATE_BASE_URL")]
        base_url: String,
    },
    /// Create the access-token key pair in a folder, unless it is there already.
    JwtKeygen {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Create the notifier's sealing key pair (one-time secrets in events) in a folder, unless
    /// it is there already.
    SealKeygen {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Create the ticket signing key (RSA-2048), its id and the public JWKS in a folder, unless
    /// they are there already.
    TicketKeygen {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Grant a role to an account (the only way to get one).
    GrantRole(RoleArgs),
    /// Take a role from an account.
    RevokeRole(RoleArgs),
    /// Make many ready accounts (verified email, profile, one shared password) for tests and
    /// benchmarks; prints `id username email` per account.
    SeedUsers(seed::SeedArgs),
    /// Call the scheduled `/internal/<service>/jobs/<job>` endpoints.
    Scheduler {
        #[arg(long, default_value = "infra/schedule.toml")]
        schedule: PathBuf,
        #[arg(long, env = "NEXGATE_BASE_URL")]
        base_url: String,
    },
}

/// Who gets or loses which role.
#[derive(clap::Args)]
struct RoleArgs {
    /// An administrator's URL of the main database.
    #[arg(long, env = "NEXGATE_ADMIN_DB_URL")]
    database_url: String,
    #[arg(long)]
    user: uuid::Uuid,
    #[arg(long, default_value = "operator")]
    role: String,
    /// Who made the change, for the record.
    #[arg(long, env = "USER", default_value = "operator")]
    by: String,
}

/// Internal tokens from the same environment variables the host reads for its Spin variables
/// (`SPIN_VARIABLE_<SERVICE>_INTERNAL_TOKEN`), so one setting feeds both.
fn internal_tokens() -> BTreeMap<String, String> {
    std::env::vars()
        .filter_map(|(k, v)| {
            let service = k
                .strip_prefix("SPIN_VARIABLE_")?
                .strip_suffix("_INTERNAL_TOKEN")?;
            Some((service.to_ascii_lowercase(), v))
        })
        .collect()
}

fn database_url(server_url: &str, database: &str) -> String {
    format!(
        "{}/{database}?sslmode=disable",
        server_url.trim_end_matches('/')
    )
}

/// Creates `db` on the server if it is missing, then applies the migrations of each folder.
async fn migrate_database(server_url: &str, db: &str, dirs: &[std::path::PathBuf]) -> Result<()> {
    migrate::ensure_database(&database_url(server_url, "postgres"), db).await?;
    for dir in dirs {
        let report = migrate::apply(&database_url(server_url, db), dir).await?;
        for name in &report.applied {
            tracing::info!("{db}: applied {name}");
        }
        tracing::info!(
            "{db}: {} applied, {} already there ({})",
            report.applied.len(),
            report.already,
            dir.display()
        );
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Migrate {
            server_url,
            database,
            notifications_database,
            migrations_dir,
            extra_dir,
        } => {
            let mut nexgate_dirs = vec![migrations_dir.join("nexgate")];
            nexgate_dirs.extend(extra_dir);
            migrate_database(&server_url, &database, &nexgate_dirs).await?;
            let notifications_dirs = [migrations_dir.join("notifications")];
            migrate_database(&server_url, &notifications_database, &notifications_dirs).await
        }
        Command::Declare(q) => {
            let (subs, _conn, _channel) = q.declare().await?;
            tracing::info!(
                "declared queues of {} consuming services under prefix `{}`",
                subs.services.len(),
                q.prefix
            );
            Ok(())
        }
        Command::Relay {
            database_url,
            amqp_url,
            interval_ms,
            stale_after_ms,
        } => {
            relay::run(relay::RelaySettings {
                database_url,
                amqp_url,
                interval: Duration::from_millis(interval_ms),
                stale_after: Duration::from_millis(stale_after_ms),
            })
            .await
        }
        Command::Dispatcher { queues, base_url } => {
            let subs = bus::Subscriptions::load(&queues.subscriptions)?;
            dispatcher::run(
                dispatcher::DispatcherSettings {
                    amqp_url: queues.amqp_url,
                    prefix: queues.prefix,
                    base_url,
                    tokens: internal_tokens(),
                    expires_ms: queues.expires_ms,
                },
                subs,
            )
            .await
        }
        Command::JwtKeygen { dir } => {
            let created = accounts::jwt_keygen(&dir)?;
            tracing::info!(
                "access-token keys {} in {}",
                if created { "created" } else { "kept" },
                dir.display()
            );
            Ok(())
        }
        Command::SealKeygen { dir } => {
            let created = accounts::seal_keygen(&dir)?;
            tracing::info!(
                "notifier sealing keys {} in {}",
                if created { "created" } else { "kept" },
                dir.display()
            );
            Ok(())
        }
        Command::TicketKeygen { dir } => {
            let created = accounts::ticket_keygen(&dir)?;
            tracing::info!(
                "ticket signing key {} in {}",
                if created { "created" } else { "kept" },
                dir.display()
            );
            Ok(())
        }
        Command::GrantRole(r) => {
            accounts::set_role(&r.database_url, r.user, &r.role, &r.by, true).await?;
            tracing::info!("granted `{}` to {}", r.role, r.user);
            Ok(())
        }
        Command::RevokeRole(r) => {
            accounts::set_role(&r.database_url, r.user, &r.role, &r.by, false).await?;
            tracing::info!("revoked `{}` from {}", r.role, r.user);
            Ok(())
        }
        Command::SeedUsers(args) => seed::run(args).await,
        Command::Scheduler { schedule, base_url } => {
            let schedule = scheduler::Schedule::load(&schedule)?;
            scheduler::run(schedule, base_url, internal_tokens()).await
        }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
