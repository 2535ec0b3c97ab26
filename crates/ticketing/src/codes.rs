//! Manual ticket codes (docs/ticketing.md, "Manual codes"): 10 characters of Crockford base32
//! (50 random bits), shown as `XXXXX-XXXXX`, typed at the door when a QR will not scan. Reading
//! forgives case, dashes, spaces and the look-alikes I/L (1) and O (0).

/// Characters in a code.
pub const CODE_CHARS: usize = 10;

/// Crockford's base32 alphabet: no I, L, O or U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new random code (as stored: 10 characters, no dash).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; CODE_CHARS];
    getrandom::fill(&mut bytes)?;
    // The low 5 bits of each byte: uniform over the 32 characters.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(b & 0x1f) as usize] as char)
        .collect())
}

/// A stored code as people read it: `XXXXX-XXXXX`.
pub fn display(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(CODE_CHARS / 2));
    format!("{a}-{b}")
}

/// What someone typed, as stored; `None` when it cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in typed.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !ALPHABET.contains(&(c as u8)) || !c.is_ascii() {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_base32_characters_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), CODE_CHARS);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a, b);
        assert_eq!(normalize(&display(&a)).as_deref(), Some(a.as_str()));
    }

    #[test]
    fn typing_forgives_case_dashes_and_look_alikes() {
        assert_eq!(normalize("abcde-fghjk").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalize("0o1il 23456").as_deref(), Some("0011123456"));
        assert_eq!(normalize("ABCDE-FGHJ"), None, "too short");
        assert_eq!(normalize("ABCDE-FGHJU"), None, "U is not in the alphabet");
        assert_eq!(normalize("ABCDE-FGHJ€"), None);
        assert_eq!(display("ABCDEFGHJK"), "ABCDE-FGHJK");
    }
}
