//! `nexgate-host`: runs a Spin application's HTTP components on wasmtime, like `spin up`.
//!
//! Layout:
//! - `manifest`, `template`, `variables`: reading `spin.toml` and resolving variables;
//! - `routing`: Spin's route syntax and precedence;
//! - `runtime`: engine, component loading and caching, one request through one instance;
//! - `server`: the HTTP listener;
//! - `runtime_config`: the runtime config file (`state_dir`, key-value stores);
//! - `outbound_grants`, `outbound_http`: `allowed_outbound_hosts`, self requests and service chaining;
//! - `postgres`, `pg_types`, `redis_host`, `mqtt`, `key_value`, `variables_host`: the Spin interfaces.

mod app;
mod bindings;
mod body;
mod capabilities;
mod lifecycle;
mod log_writer;
mod runtime;
mod server;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use app::{manifest, runtime_config, variables};
use capabilities::postgres;

/// Command line of the host.
#[derive(Parser)]
#[command(
    name = "nexgate-host",
    version,
    about = "Runs spin.toml's HTTP components on wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application.
    Up(UpArgs),
    /// Validate the manifest and load every component without serving.
    Check(UpArgs),
    /// Time each step of a request inside the host (store, instantiation, the guest's handler,
    /// the response body, teardown) for the component a path routes to, without the network.
    Lifecycle(LifecycleArgs),
}

#[derive(clap::Args)]
struct LifecycleArgs {
    #[command(flatten)]
    app: UpArgs,
    /// The request path; the component it routes to is measured.
    #[arg(long)]
    path: String,
    /// Requests measured, one at a time.
    #[arg(long, default_value_t = 5_000)]
    requests: usize,
}

#[derive(clap::Args)]
struct UpArgs {
    /// The application manifest.
    #[arg(long = "from", short = 'f', default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, env = "NEXGATE_LISTEN", default_value = "127.0.0.1:3000")]
    listen: String,
    /// Set an application variable (highest precedence), as `name=value`.
    #[arg(long = "variable", value_parser = parse_key_value)]
    variables: Vec<(String, String)>,
    /// Requests that may run inside components at once.
    #[arg(long, env = "NEXGATE_INSTANCES_MAX", default_value_t = 128)]
    instances_max: usize,
    /// How long a request waits for a free instance before it gets 503, in milliseconds.
    #[arg(long, env = "NEXGATE_INSTANCE_WAIT_MS", default_value_t = 2_000)]
    instance_wait_ms: u64,
    /// Time budget of one request inside its component, in milliseconds (then 504).
    #[arg(long, env = "NEXGATE_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Linear memory one instance may use, in MiB.
    #[arg(long, env = "NEXGATE_INSTANCE_MEMORY_MIB", default_value_t = 256)]
    instance_memory_mib: usize,
    /// Postgres connections the whole host may open.
    #[arg(long, env = "NEXGATE_PG_CONNECTIONS_MAX", default_value_t = 40)]
    pg_connections_max: usize,
    /// Postgres connections one address (database URL) may open.
    #[arg(
        long,
        env = "NEXGATE_PG_CONNECTIONS_PER_ADDRESS_MAX",
        default_value_t = 16
    )]
    pg_connections_per_address_max: usize,
    /// Spin's runtime configuration file: `state_dir` and `[key_value_store.<label>]` (see
    /// docs/host.md). Without it, only the `default` key-value store exists (SQLite in the
    /// state folder), as with `spin up`.
    #[arg(long = "runtime-config-file")]
    runtime_config_file: Option<PathBuf>,
    /// Where local state lives (default: `.spin` beside the manifest), as `spin up --state-dir`.
    #[arg(long = "state-dir")]
    state_dir: Option<PathBuf>,
    /// Time a client has to send a request's line and headers, in milliseconds.
    #[arg(long, env = "NEXGATE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    header_read_timeout_ms: u64,
    /// Connections open at once; more wait in the listen backlog.
    #[arg(long, env = "NEXGATE_CONNECTIONS_MAX", default_value_t = 4_096)]
    connections_max: usize,
    /// Largest request body, in MiB (413 beyond it; the File Manager's direct uploads take 40).
    #[arg(long, env = "NEXGATE_REQUEST_BODY_MIB_MAX", default_value_t = 64)]
    request_body_mib_max: u64,
    /// Where compiled components are cached between starts.
    #[arg(long, env = "NEXGATE_HOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not name=value"))
}

fn default_cache_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("NEXGATE_CACHE_DIR") {
        return PathBuf::from(dir).join("host-compiled");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(home).join(".cache/nexgate/host-compiled")
}

fn load(args: &UpArgs) -> Result<std::sync::Arc<runtime::Runtime>> {
    let app = manifest::load(&args.manifest)?;
    let app_dir = args
        .manifest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let runtime_config = runtime_config::RuntimeConfig::load(
        args.runtime_config_file.as_deref(),
        app_dir,
        args.state_dir.as_deref(),
    )?;
    let flags: HashMap<String, String> = args.variables.iter().cloned().collect();
    let env: HashMap<String, String> = std::env::vars().collect();
    let variables = variables::AppVariables::resolve(&app, &flags, &env)
        .with_context(|| format!("application `{}`", app.name))?;
    let limits = runtime::Limits {
        instances_max: args.instances_max.max(1),
        instance_wait: Duration::from_millis(args.instance_wait_ms),
        request_timeout: Duration::from_millis(args.request_timeout_ms.max(10)),
        memory_bytes_max: args.instance_memory_mib.max(16) * 1024 * 1024,
    };
    let pg_limits = postgres::PgLimits {
        per_address_max: args.pg_connections_per_address_max.max(1),
        host_max: args.pg_connections_max.max(1),
        acquire_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
    };
    runtime::Runtime::load(
        &app,
        runtime::LoadOptions {
            limits,
            pg_limits,
            runtime_config,
            cache_dir: args.cache_dir.clone().unwrap_or_else(default_cache_dir),
            variables,
        },
    )
}

fn main() -> std::process::ExitCode {
    // wasmtime builds an error value inside its request path (e.g. when a store drops a finished
    // guest's fiber); with `RUST_BACKTRACE=1` in the environment each of those would capture a
    // backtrace, tens of microseconds per request. Library backtraces are off unless asked for
    // explicitly; panics still print theirs under `RUST_BACKTRACE`. Done before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let (log_output, _flush_logs) = match log_writer::buffered_stderr() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot start the log writer thread: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,cranelift=warn,wasmtime=warn,tokio_postgres=warn",
                )
            }),
        )
        .with_writer(log_output)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Check(args) => {
                load(&args)?;
                println!(
                    "manifest {} is valid and every component loads",
                    args.manifest.display()
                );
                Ok(())
            }
            Command::Lifecycle(args) => {
                let runtime = load(&args.app)?;
                let report = lifecycle::measure(&runtime, &args.path, args.requests).await?;
                print!("{}", report.table());
                Ok(())
            }
            Command::Up(args) => {
                let runtime = load(&args)?;
                let listener = tokio::net::TcpListener::bind(&args.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", args.listen))?;
                let addr = listener.local_addr()?;
                // Tests and scripts wait for this exact line.
                println!("listening on {}", server::describe(addr));
                use std::io::Write;
                std::io::stdout().flush().ok();
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                let limits = server::ServeLimits {
                    header_read_timeout: Duration::from_millis(
                        args.header_read_timeout_ms.max(100),
                    ),
                    connections_max: args.connections_max.max(1),
                    request_body_bytes_max: args.request_body_mib_max.max(1) * 1024 * 1024,
                };
                let served = server::serve(listener, runtime.clone(), limits, shutdown).await;
                runtime.release_ready_instances();
                served
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
