//! `nexgate-sandbox`: the local sandbox's simulated third parties (nexgate_tests::sandbox), for
//! `scripts/up.sh`; never deployed.
//!
//! - `nexgate-sandbox app-env` prints the app's `SPIN_VARIABLE_*` lines: the payment providers'
//!   origins and credentials, and Google's and Apple's origins and client ids;
//! - `nexgate-sandbox notifier-env` prints the notifier's push (FCM) settings;
//! - `nexgate-sandbox serve --app http://127.0.0.1:3000` serves them all and the control page.
//!
//! Addresses: `--providers` (payments, default 127.0.0.1:3600), `--control` (the page, 3601),
//! `--identities` (sign-in, 3602), `--push` (FCM, 3603); `--state-dir` holds the FCM service
//! account the notifier reads (default /var/lib/nexgate/sandbox).

use std::path::PathBuf;

use nexgate_tests::notify::GatewaySimulator;
use nexgate_tests::oauth::ProviderSimulator;
use nexgate_tests::payments::PaymentSimulator;
use nexgate_tests::sandbox::{serve_control, Sandbox};

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

async fn listen(addr: &str) -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let providers = flag(&args, "--providers", "127.0.0.1:3600");
    let control = flag(&args, "--control", "127.0.0.1:3601");
    let identities = flag(&args, "--identities", "127.0.0.1:3602");
    let push = flag(&args, "--push", "127.0.0.1:3603");
    let state_dir = PathBuf::from(flag(&args, "--state-dir", "/var/lib/nexgate/sandbox"));
    match args.first().map(String::as_str) {
        Some("app-env") => {
            let mut env = PaymentSimulator::provider_env(&format!("http://{providers}"));
            env.extend(Sandbox::identity_env(&format!("http://{identities}")));
            for (name, value) in env {
                println!("{name}={value}");
            }
        }
        Some("notifier-env") => {
            println!("NEXGATE_FCM_ORIGIN=http://{push}");
            println!(
                "NEXGATE_FCM_SERVICE_ACCOUNT={}",
                state_dir.join("fcm-service-account.json").display()
            );
        }
        Some("serve") => {
            let app = flag(&args, "--app", "http://127.0.0.1:3000");
            let payments = PaymentSimulator::start_sandbox(listen(&providers).await);
            payments.deliver_to(&app);
            let sandbox = Sandbox {
                payments,
                identities: Some(ProviderSimulator::start_on(listen(&identities).await)),
                push: Some(GatewaySimulator::start_on(listen(&push).await, &state_dir)),
            };
            serve_control(listen(&control).await, sandbox);
            eprintln!("sandbox: approve or decline payments, get sign-in tokens, see pushes on http://{control}/");
            std::future::pending::<()>().await;
        }
        _ => {
            eprintln!("usage: nexgate-sandbox app-env|notifier-env|serve [--app URL] [--providers|--control|--identities|--push ADDR] [--state-dir DIR]");
            std::process::exit(2);
        }
    }
}
