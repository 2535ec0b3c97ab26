//! `@username` mentions in free text (bios now; posts and comments in the social service).
//!
//! A mention is `@` at the start of the text or after a character that cannot be part of a
//! username (so `amina@example.com` is not one), followed by a valid username; a `.` ending it is
//! the sentence's, not the name's. Names are compared case-insensitively.

use crate::username::{Username, USERNAME_CHARS_MAX};

/// The most mentions one text may carry; the rest are ignored (no fan-out from one text).
pub const MENTIONS_PER_TEXT_MAX: usize = 10;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// The distinct usernames mentioned in `text` (as keys: lower case), in order of first mention,
/// at most [`MENTIONS_PER_TEXT_MAX`].
pub fn mentioned_usernames(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() && found.len() < MENTIONS_PER_TEXT_MAX {
        let starts = bytes[i] == b'@' && (i == 0 || !is_name_byte(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < bytes.len() && is_name_byte(bytes[end]) && end - i <= USERNAME_CHARS_MAX + 1 {
            end += 1;
        }
        let name = text[i + 1..end].trim_end_matches('.');
        if let Ok(username) = Username::parse(name) {
            let key = username.key();
            if !found.contains(&key) {
                found.push(key);
            }
        }
        i = end.max(i + 1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_at_names_not_emails_and_end_before_a_full_stop() {
        assert_eq!(
            mentioned_usernames("Hi @Amina_K and @juma.m. Mail me: x@example.com (@Amina_k)"),
            ["amina_k", "juma.m"]
        );
        assert_eq!(
            mentioned_usernames("@ab too short, @ alone, @@double"),
            ["double"]
        );
        assert!(mentioned_usernames("no mentions here").is_empty());
    }

    #[test]
    fn a_text_carries_at_most_ten() {
        let text: String = (0..15).map(|i| format!("@user{i:02} ")).collect();
        assert_eq!(mentioned_usernames(&text).len(), MENTIONS_PER_TEXT_MAX);
    }
}
