//! Facets (docs/social.md, "Mentions and tags"): the server reads a post's text into `@username`
//! mentions, `$shophandle` shop mentions and `#tag` hashtags, each with its **UTF-8 byte range**
//! (`start..end`, end exclusive, as Bluesky's facets), so clients highlight the right bytes
//! whatever emoji or accents come before. Resolving names to ids (and dropping mentions across a
//! block) happens at write time, in SQL; this module only reads the text.
//!
//! A facet starts at the beginning of the text or after a character that cannot be part of a
//! name (so `amina@example.com` and `price$5` are not facets). A `.` ending a username or handle
//! belongs to the sentence. A tag is 1 to [`TAG_CHARS_MAX`] letters, digits or `_` (any script),
//! not only digits (`#1` is a number, not a tag), and is compared in lower case.

use nexgate_names::username::{Username, USERNAME_CHARS_MAX};
use serde::Serialize;

/// The longest post text, in characters.
pub const TEXT_CHARS_MAX: usize = 2000;
/// Mentions (users and shops together) one text may carry: more is refused, not cut.
pub const MENTIONS_MAX: usize = 10;
/// Hashtags one text may carry.
pub const TAGS_MAX: usize = 20;
/// The longest hashtag, in characters.
pub const TAG_CHARS_MAX: usize = 64;

/// What a facet points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Feature {
    /// `@username` (the key: lower case).
    Mention { username: String },
    /// `$shophandle` (the key: lower case).
    Shop { handle: String },
    /// `#tag` (lower case).
    Tag { tag: String },
}

/// A feature and the bytes of the text it covers (the `@`, `$` or `#` included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facet {
    pub start: usize,
    pub end: usize,
    #[serde(flatten)]
    pub feature: Feature,
}

/// Why a text was refused (the message of a 422 naming `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong,
    TooManyMentions,
    TooManyTags,
}

impl TextError {
    pub fn message(&self) -> String {
        match self {
            TextError::Empty => "must not be empty".into(),
            TextError::TooLong => format!("must be at most {TEXT_CHARS_MAX} characters"),
            TextError::TooManyMentions => {
                format!("may mention at most {MENTIONS_MAX} users and shops")
            }
            TextError::TooManyTags => format!("may carry at most {TAGS_MAX} hashtags"),
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The facets of `text` in text order; a repeated name or tag is a facet each time (each is
/// highlighted), and counts once against the limits.
pub fn parse(text: &str) -> Result<Vec<Facet>, TextError> {
    if text.trim().is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().count() > TEXT_CHARS_MAX {
        return Err(TextError::TooLong);
    }
    let mut facets = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let (facet, next) = match text.as_bytes()[i] {
            b'@' | b'$' if starts_name(text, i) => name_at(text, i),
            b'#' if starts_tag(text, i) => tag_at(text, i),
            _ => (None, i + 1),
        };
        facets.extend(facet);
        // Step to the next character boundary (never into the middle of a UTF-8 sequence).
        i = next;
        while i < text.len() && !text.is_char_boundary(i) {
            i += 1;
        }
    }
    let distinct = |pick: fn(&Feature) -> Option<&String>| {
        let mut seen: Vec<&String> = facets.iter().filter_map(|f| pick(&f.feature)).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    };
    let mentions = distinct(|f| match f {
        Feature::Mention { username } => Some(username),
        _ => None,
    }) + distinct(|f| match f {
        Feature::Shop { handle } => Some(handle),
        _ => None,
    });
    if mentions > MENTIONS_MAX {
        return Err(TextError::TooManyMentions);
    }
    if distinct(|f| match f {
        Feature::Tag { tag } => Some(tag),
        _ => None,
    }) > TAGS_MAX
    {
        return Err(TextError::TooManyTags);
    }
    Ok(facets)
}

/// Whether the sigil at byte `i` may start a name: first, or after a byte no name contains.
fn starts_name(text: &str, i: usize) -> bool {
    i == 0 || !is_name_byte(text.as_bytes()[i - 1])
}

/// Whether the `#` at byte `i` may start a tag: first, or after a character no tag contains.
fn starts_tag(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_none_or(|c| !is_tag_char(c) && c != '&')
}

/// The mention at byte `i` (`@` or `$`), and where to go on.
fn name_at(text: &str, i: usize) -> (Option<Facet>, usize) {
    let bytes = text.as_bytes();
    let mut end = i + 1;
    while end < bytes.len() && is_name_byte(bytes[end]) && end - i <= USERNAME_CHARS_MAX + 1 {
        end += 1;
    }
    let raw = &text[i + 1..end];
    let name = raw.trim_end_matches('.');
    let covered = i + 1 + name.len();
    let Ok(parsed) = Username::parse(name) else {
        return (None, end.max(i + 1));
    };
    let feature = if bytes[i] == b'@' {
        Feature::Mention {
            username: parsed.key(),
        }
    } else {
        Feature::Shop {
            handle: parsed.key(),
        }
    };
    let facet = Facet {
        start: i,
        end: covered,
        feature,
    };
    (Some(facet), end)
}

/// The hashtag at byte `i`, and where to go on.
fn tag_at(text: &str, i: usize) -> (Option<Facet>, usize) {
    let rest = &text[i + 1..];
    let len: usize = rest
        .chars()
        .take_while(|c| is_tag_char(*c))
        .map(char::len_utf8)
        .sum();
    let tag = &rest[..len];
    let chars = tag.chars().count();
    if chars == 0 || chars > TAG_CHARS_MAX || tag.chars().all(|c| c.is_ascii_digit()) {
        return (None, i + 1 + len);
    }
    let facet = Facet {
        start: i,
        end: i + 1 + len,
        feature: Feature::Tag {
            tag: tag.to_lowercase(),
        },
    };
    (Some(facet), i + 1 + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(&str, Feature)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|f| (&text[f.start..f.end], f.feature))
            .collect()
    }

    #[test]
    fn mentions_shops_and_tags_get_their_byte_ranges() {
        let text = "Karibu @Amina_K! New kitenge at $Duka.Amina. #Fashion #Dar2026";
        assert_eq!(
            spans(text),
            vec![
                (
                    "@Amina_K",
                    Feature::Mention {
                        username: "amina_k".into()
                    }
                ),
                (
                    "$Duka.Amina",
                    Feature::Shop {
                        handle: "duka.amina".into()
                    }
                ),
                (
                    "#Fashion",
                    Feature::Tag {
                        tag: "fashion".into()
                    }
                ),
                (
                    "#Dar2026",
                    Feature::Tag {
                        tag: "dar2026".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn byte_ranges_are_emoji_and_accent_safe() {
        let text = "🎉🎉 Café con @juma.m y #música 🇹🇿";
        let facets = parse(text).unwrap();
        assert_eq!(&text[facets[0].start..facets[0].end], "@juma.m");
        assert_eq!(facets[0].start, "🎉🎉 Café con ".len());
        assert_eq!(&text[facets[1].start..facets[1].end], "#música");
        assert_eq!(
            facets[1].feature,
            Feature::Tag {
                tag: "música".into()
            }
        );
    }

    #[test]
    fn emails_prices_numbers_and_short_names_are_not_facets() {
        assert!(spans("mail x@example.com, costs 5$usd, item #1, @ab, #, a#b").is_empty());
    }

    #[test]
    fn limits_are_refused_not_cut() {
        let ten: String = (0..10).map(|i| format!("@user{i:02} ")).collect();
        assert!(parse(&ten).is_ok());
        let eleven = format!("{ten} $shop11");
        assert_eq!(parse(&eleven), Err(TextError::TooManyMentions));
        let repeated = format!("{ten} @user00 @USER01");
        assert!(
            parse(&repeated).is_ok(),
            "a name mentioned twice counts once"
        );
        let tags: String = (0..21).map(|i| format!("#tag{i} ")).collect();
        assert_eq!(parse(&tags), Err(TextError::TooManyTags));
        assert_eq!(parse("  "), Err(TextError::Empty));
        assert_eq!(
            parse(&"a".repeat(TEXT_CHARS_MAX + 1)),
            Err(TextError::TooLong)
        );
        assert!(
            parse(&"é".repeat(TEXT_CHARS_MAX)).is_ok(),
            "characters, not bytes"
        );
    }
}
