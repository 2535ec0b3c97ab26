//! Bundles the most common passwords (refused at registration and on password change).
//!
//! The ranked list comes from the `zxcvbn` crate's sources (a build dependency, so cargo has
//! downloaded it); the version is the one in Cargo.lock. The first COMMON_PASSWORDS_MAX entries
//! long enough to pass the length rule are written, sorted, to `$OUT_DIR/common_passwords.rs`.

use std::env;
use std::fs;
use std::path::PathBuf;

/// How many of the most common passwords are bundled.
const COMMON_PASSWORDS_MAX: usize = 10_000;
/// The password length rule's minimum; shorter entries are refused anyway.
const PASSWORD_CHARS_MIN: usize = 8;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let lock = manifest_dir.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-changed=build.rs");
    let version = locked_version(&fs::read_to_string(&lock).expect("Cargo.lock"), "zxcvbn");
    let source = find_in_registry(&format!("zxcvbn-{version}"))
        .unwrap_or_else(|| panic!("zxcvbn {version} sources not found; run `cargo fetch`"))
        .join("src/frequency_lists.rs");
    let text = fs::read_to_string(&source).expect("zxcvbn frequency lists");
    let start = text
        .find("const PASSWORDS: &str = \"")
        .expect("zxcvbn's PASSWORDS list")
        + "const PASSWORDS: &str = \"".len();
    let end = start + text[start..].find('"').expect("end of PASSWORDS");
    let mut words: Vec<&str> = text[start..end]
        .split(',')
        .filter(|w| w.chars().count() >= PASSWORD_CHARS_MIN)
        .take(COMMON_PASSWORDS_MAX)
        .collect();
    words.sort_unstable();
    words.dedup();
    assert!(words.len() > 1000, "the common-password list looks wrong");
    let mut out = String::from("/// The most common passwords of at least 8 characters, sorted.\npub static COMMON_PASSWORDS: &[&str] = &[\n");
    for w in words {
        out.push_str(&format!("    {w:?},\n"));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").unwrap()).join("common_passwords.rs");
    fs::write(dest, out).unwrap();
}

fn locked_version(lock: &str, name: &str) -> String {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            let v = lines.next().unwrap();
            return v
                .trim()
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_string();
        }
    }
    panic!("{name} is not in Cargo.lock");
}

fn find_in_registry(dir_name: &str) -> Option<PathBuf> {
    let cargo_home = env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env::var("HOME").unwrap_or_default()).join(".cargo"));
    for index in fs::read_dir(cargo_home.join("registry/src")).ok()? {
        let candidate = index.ok()?.path().join(dir_name);
        if candidate.is_dir() {
            return Some(candidate);
        }
    }
    None
}
