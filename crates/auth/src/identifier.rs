//! Email addresses, phone numbers (E.164) and login identifiers, normalised.

use serde::Serialize;

/// Longest email address (RFC 5321 path limit).
pub const EMAIL_BYTES_MAX: usize = 254;

/// A lowercased, trimmed email address with one `@`, a non-empty local part and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        if s.len() > EMAIL_BYTES_MAX {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("must be an email address");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '"');
        if domain_ok && local_ok {
            Ok(Self(s))
        } else {
            Err("must be an email address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 (`+255712345678`). Spaces, dashes, dots and parentheses are dropped
/// and a leading `00` becomes `+`; a number without its country code is refused, because the same
/// number later drives mobile money and must be unambiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest
        } else {
            return Err("must be in international form, such as +255712345678");
        };
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(format!("+{digits}")))
        } else {
            Err("must be in international form, such as +255712345678")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a code or notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Phone,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Phone => "phone",
        }
    }
}

/// Exactly one of an email and a phone from a request body, normalised; a 422 names the field.
pub fn contact_point(
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<(Channel, String), nexgate_platform::Problem> {
    use nexgate_platform::Problem;
    match (email, phone) {
        (Some(e), None) => Email::parse(e)
            .map(|e| (Channel::Email, e.0))
            .map_err(|m| Problem::invalid_field("email", m)),
        (None, Some(p)) => Phone::parse(p)
            .map(|p| (Channel::Phone, p.0))
            .map_err(|m| Problem::invalid_field("phone", m)),
        _ => Err(Problem::invalid_field(
            "email",
            "give exactly one of `email` and `phone`",
        )),
    }
}

/// What a user typed to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginIdentifier {
    Email(Email),
    Phone(Phone),
    /// Lowercased: usernames are unique case-insensitively.
    Username(String),
}

impl LoginIdentifier {
    /// An `@` means an email; a leading `+` or `00`, or only digits and separators, a phone;
    /// anything else a username.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.is_empty() || s.len() > EMAIL_BYTES_MAX {
            return Err("must be an email, a phone number or a username");
        }
        if s.contains('@') {
            return Email::parse(s).map(Self::Email);
        }
        let looks_like_phone = s.starts_with('+')
            || s.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'));
        if looks_like_phone {
            return Phone::parse(s).map(Self::Phone);
        }
        Ok(Self::Username(s.to_ascii_lowercase()))
    }

    /// The rate-limit key part: the same for every spelling of one identifier.
    pub fn limit_key(&self) -> String {
        match self {
            Self::Email(e) => format!("email:{}", e.as_str()),
            Self::Phone(p) => format!("phone:{}", p.as_str()),
            Self::Username(u) => format!("username:{u}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse(" Amina@Example.CO.tz ").unwrap().as_str(),
            "amina@example.co.tz"
        );
        for bad in [
            "amina",
            "@example.com",
            "amina@example",
            "a b@example.com",
            "amina@exa..mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        assert_eq!(
            Phone::parse("+255 712-345-678").unwrap().as_str(),
            "+255712345678"
        );
        assert_eq!(
            Phone::parse("00254 (712) 345678").unwrap().as_str(),
            "+254712345678"
        );
        for bad in [
            "0712345678",
            "+0712345678",
            "+25571234567890123",
            "+2557a2345678",
            "+12345",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_identifiers_are_told_apart_and_keyed_the_same_whatever_the_spelling() {
        assert_eq!(
            LoginIdentifier::parse("AMINA@example.com")
                .unwrap()
                .limit_key(),
            LoginIdentifier::parse("amina@example.com")
                .unwrap()
                .limit_key()
        );
        assert_eq!(
            LoginIdentifier::parse("+255 712 345 678")
                .unwrap()
                .limit_key(),
            "phone:+255712345678"
        );
        assert_eq!(
            LoginIdentifier::parse("Amina_K").unwrap().limit_key(),
            "username:amina_k"
        );
        assert!(LoginIdentifier::parse("0712345678").is_err());
    }
}
