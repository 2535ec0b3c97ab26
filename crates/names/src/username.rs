//! Usernames: 3 to 30 characters of `a-z`, `A-Z`, `0-9`, `_` and `.`; no `.` at either end and
//! never two in a row. Unique case-insensitively (the case typed is kept for display).
//! Mirrors the constraint `profiles_username_format` in the profiles migration.

/// Shortest username.
pub const USERNAME_CHARS_MIN: usize = 3;
/// Longest username.
pub const USERNAME_CHARS_MAX: usize = 30;

/// A username that passed the format rules (not yet known to be free or unreserved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Checks the format; the error says what is wrong, for a field-named 422.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.len() < USERNAME_CHARS_MIN {
            return Err("must be at least 3 characters");
        }
        if s.len() > USERNAME_CHARS_MAX {
            return Err("must be at most 30 characters");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err("may contain only letters a-z, digits, `_` and `.`");
        }
        if s.starts_with('.') || s.ends_with('.') || s.contains("..") {
            return Err("may not start or end with `.` or contain `..`");
        }
        Ok(Self(s.to_string()))
    }

    /// As typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key uniqueness is checked on.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_character_set_and_length_are_enforced() {
        assert_eq!(Username::parse(" Amina_K ").unwrap().as_str(), "Amina_K");
        assert_eq!(Username::parse("amina.k").unwrap().key(), "amina.k");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(31)).is_err());
        assert!(Username::parse(&"a".repeat(30)).is_ok());
        for bad in [
            "amina k", "amina-k", ".amina", "amina.", "ami..na", "amína", "a@b",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }
}
