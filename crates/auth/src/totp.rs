//! TOTP (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 6 digits, 30-second steps, one step of clock
//! drift either way, and each step accepted once (the caller stores the last step used).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const PERIOD_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of drift accepted before and after now.
pub const DRIFT_STEPS: u64 = 1;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// The HOTP code of `secret` at counter `step`.
pub fn code_at(secret: &[u8], step: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step of `now_secs`.
pub fn step_of(now_secs: u64) -> u64 {
    now_secs / PERIOD_SECS
}

/// The step `code` matches within the drift window, if any, and only if it is later than
/// `last_used_step` (so a code is never accepted twice).
pub fn matching_step(secret: &[u8], code: &str, now_secs: u64, last_used_step: u64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(now_secs);
    (now.saturating_sub(DRIFT_STEPS)..=now + DRIFT_STEPS)
        .filter(|s| *s > last_used_step)
        .find(|s| crate::secrets::digests_equal(&code_at(secret, *s), code))
}

/// RFC 4648 base32 without padding (what authenticator apps read).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored), as an authenticator
/// app does with a typed-in secret.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let v = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app scans.
pub fn otpauth_uri(issuer: &str, account_label: &str, secret: &[u8]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        enc(issuer),
        enc(account_label),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_vectors_match_in_six_digits() {
        // RFC 6238 appendix B (8-digit codes; the last six digits are the 6-digit code).
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(RFC_SECRET, step_of(time)), eight[2..], "t={time}");
        }
    }

    #[test]
    fn a_code_is_accepted_within_one_step_of_drift_and_only_once() {
        let now = 1_234_567_890;
        let code = code_at(RFC_SECRET, step_of(now) - 1);
        let step = matching_step(RFC_SECRET, &code, now, 0).expect("previous step accepted");
        assert_eq!(
            matching_step(RFC_SECRET, &code, now, step),
            None,
            "replay refused"
        );
        let old = code_at(RFC_SECRET, step_of(now) - 2);
        assert_eq!(matching_step(RFC_SECRET, &old, now, 0), None);
        assert_eq!(matching_step(RFC_SECRET, "12a456", now, 0), None);
    }

    #[test]
    fn base32_and_the_uri_are_what_authenticators_expect() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            base32_decode("gezd gnbv gy3t qojq gezdgnbvgy3tqojq").unwrap(),
            RFC_SECRET
        );
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        let uri = otpauth_uri("Nexgate", "amina@example.com", RFC_SECRET);
        assert!(uri.starts_with("otpauth://totp/Nexgate:amina%40example.com?secret=GEZDGNBV"));
        assert!(uri.ends_with("&issuer=Nexgate&algorithm=SHA1&digits=6&period=30"));
    }
}
