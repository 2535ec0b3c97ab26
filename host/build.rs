//! Generates the host bindings for the Spin interfaces from the WIT files that ship inside the
//! spin-sdk crate (the version in Cargo.lock), so no copy of them lives in this repository.
//!
//! The WIT world of our own (`wit/host.wit`) is copied into `$OUT_DIR/wit` beside a `deps` link to
//! spin-sdk's `wit/deps`, and `bindings.rs` there invokes `wasmtime::component::bindgen!` on it.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap();
    let lock = workspace.join("Cargo.lock");
    let world = workspace.join("wit").join("host.wit");
    println!("cargo:rerun-if-changed={}", world.display());
    println!("cargo:rerun-if-changed={}", lock.display());

    let version = spin_sdk_version(&lock);
    let sdk_wit = find_spin_sdk_wit(&version).unwrap_or_else(|| {
        panic!(
            "spin-sdk {version} sources not found in the cargo registry; run `cargo fetch` in the \
             workspace first (scripts/build.sh does)"
        )
    });

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let wit_dir = out.join("wit");
    let _ = fs::remove_dir_all(&wit_dir);
    fs::create_dir_all(&wit_dir).unwrap();
    fs::copy(&world, wit_dir.join("host.wit")).unwrap();
    // WASI 0.3 release candidates (`*-0.3.0-rc-*`) use streams and futures, which bindgen only
    // accepts with wasmtime's async component model; the host does not enable it (see Cargo.toml)
    // and no world of ours imports them, so they are left out.
    copy_dir(&sdk_wit.join("deps"), &wit_dir.join("deps"), &|name| {
        !name.contains("-0.3.0-")
    });

    let bindings = format!(
        r#"wasmtime::component::bindgen!({{
    path: {path:?},
    world: "nexgate:host/spin-imports",
    imports: {{ default: async | trappable }},
    with: {{
        "spin:postgres/postgres.connection": crate::capabilities::postgres::PgConnection,
        "fermyon:spin/redis.connection": crate::capabilities::redis::RedisConnection,
        "fermyon:spin/mqtt.connection": crate::capabilities::mqtt::MqttConnection,
        "fermyon:spin/key-value.store": crate::capabilities::key_value::KvStore,
    }},
}});
"#,
        path = wit_dir.display().to_string()
    );
    fs::write(out.join("bindings.rs"), bindings).unwrap();
}

fn spin_sdk_version(lock: &Path) -> String {
    let text =
        fs::read_to_string(lock).expect("Cargo.lock is missing; run `cargo generate-lockfile`");
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"spin-sdk\"" {
            let v = lines.next().unwrap();
            return v
                .trim()
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_string();
        }
    }
    panic!("spin-sdk is not in Cargo.lock; the workspace's components depend on it");
}

fn find_spin_sdk_wit(version: &str) -> Option<PathBuf> {
    let cargo_home = env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env::var("HOME").unwrap_or_default()).join(".cargo"));
    let src = cargo_home.join("registry").join("src");
    for index in fs::read_dir(src).ok()? {
        let candidate = index
            .ok()?
            .path()
            .join(format!("spin-sdk-{version}"))
            .join("wit");
        if candidate.join("deps").is_dir() {
            return Some(candidate);
        }
    }
    None
}

/// Copies `from` into `to`, recursively, leaving out entries whose name `keep` refuses.
fn copy_dir(from: &Path, to: &Path, keep: &dyn Fn(&str) -> bool) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if !keep(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target, keep);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
