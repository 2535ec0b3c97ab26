//! `nexgate-bench-auth hash <password>` prints an argon2id PHC string (for a benchmark user);
//! `nexgate-bench-auth verify <seconds>` verifies a password natively, one thread per core, for
//! that long and prints `<verifications per second> <p50 ms> <p99 ms>`, the baseline of the
//! in-component figure (bench/auth.sh).

use std::time::{Duration, Instant};

use nexgate_auth::password;

const PASSWORD: &str = "bench-password-of-nexgate";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("hash") => {
            let pw = args.get(2).map(String::as_str).unwrap_or(PASSWORD);
            println!("{}", password::hash(pw).expect("hash"));
        }
        Some("verify") => {
            let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
            let hash = password::hash(PASSWORD).expect("hash");
            let deadline = Instant::now() + Duration::from_secs(secs);
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let hash = hash.clone();
                    std::thread::spawn(move || {
                        let mut lat = Vec::new();
                        while Instant::now() < deadline {
                            let t = Instant::now();
                            assert!(password::verify(PASSWORD, Some(&hash)));
                            lat.push(t.elapsed());
                        }
                        lat
                    })
                })
                .collect();
            let mut all: Vec<Duration> = handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            all.sort();
            let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
            println!(
                "{:.1} {:.1} {:.1}",
                all.len() as f64 / secs as f64,
                pct(0.50).as_secs_f64() * 1000.0,
                pct(0.99).as_secs_f64() * 1000.0
            );
        }
        _ => {
            eprintln!("usage: nexgate-bench-auth hash <password> | verify <seconds> [threads]");
            std::process::exit(2);
        }
    }
}
