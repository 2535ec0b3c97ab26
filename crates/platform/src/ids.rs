//! Ids are UUIDv7, made in code (time-ordered, so indexes stay append-mostly).

use uuid::Uuid;

use crate::problem::Problem;

/// A new UUIDv7.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses an id from a path or field; a 4xx names the field when it is not a UUID.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(value).map_err(|_| Problem::invalid_field(field, "must be a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_increase() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.get_version_num(), 7);
        assert!(b > a);
    }

    #[test]
    fn bad_ids_name_the_field() {
        assert_eq!(
            parse_id("user_id", "nope").unwrap_err().errors[0].field,
            "user_id"
        );
    }
}
