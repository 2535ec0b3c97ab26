//! Display names: free text of 1 to 50 characters after trimming, without control characters.
//! Mirrors the constraint `profiles_display_name_length`.

/// Longest display name, in characters.
pub const DISPLAY_NAME_CHARS_MAX: usize = 50;

/// Trims and checks a display name; the error is for a field-named 422.
pub fn parse(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("must not be empty");
    }
    if s.chars().count() > DISPLAY_NAME_CHARS_MAX {
        return Err("must be at most 50 characters");
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(parse("  Amina Kweka ").unwrap(), "Amina Kweka");
        assert!(parse("   ").is_err());
        assert!(parse(&"é".repeat(50)).is_ok());
        assert!(parse(&"é".repeat(51)).is_err());
        assert!(parse("a\u{0007}b").is_err());
    }
}
