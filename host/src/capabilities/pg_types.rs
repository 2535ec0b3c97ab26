//! PostgreSQL wire encodings the `tokio-postgres` crate leaves to us: NUMERIC as exact decimal
//! strings, INTERVAL, and a catch-all for types Spin reports as unsupported.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres_types::{FromSql, IsNull, ToSql, Type};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A NUMERIC value as its exact base-10 text (`"-12.340"`, `"NaN"`, `"Infinity"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numeric(pub String);

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() < 8 {
            return Err("numeric value too short".into());
        }
        let read_i16 = |i: usize| i16::from_be_bytes([raw[i], raw[i + 1]]);
        let ndigits = read_i16(0) as usize;
        let weight = read_i16(2) as i32;
        let sign = read_i16(4) as u16;
        let dscale = read_i16(6) as usize;
        if raw.len() < 8 + ndigits * 2 {
            return Err("numeric value truncated".into());
        }
        match sign {
            NUMERIC_NAN => return Ok(Numeric("NaN".into())),
            NUMERIC_PINF => return Ok(Numeric("Infinity".into())),
            NUMERIC_NINF => return Ok(Numeric("-Infinity".into())),
            NUMERIC_POS | NUMERIC_NEG => {}
            _ => return Err("invalid numeric sign".into()),
        }
        let digits: Vec<i16> = (0..ndigits).map(|i| read_i16(8 + i * 2)).collect();
        let digit_at = |w: i32| -> i16 {
            let idx = weight - w;
            if idx >= 0 && (idx as usize) < digits.len() {
                digits[idx as usize]
            } else {
                0
            }
        };
        let mut out = String::new();
        if sign == NUMERIC_NEG && !digits.is_empty() {
            out.push('-');
        }
        if weight < 0 || digits.is_empty() {
            out.push('0');
        } else {
            for w in (0..=weight).rev() {
                if w == weight {
                    out.push_str(&digit_at(w).to_string());
                } else {
                    out.push_str(&format!("{:04}", digit_at(w)));
                }
            }
        }
        if dscale > 0 {
            out.push('.');
            let mut frac = String::new();
            let mut w = -1;
            while frac.len() < dscale {
                frac.push_str(&format!("{:04}", digit_at(w)));
                w -= 1;
            }
            frac.truncate(dscale);
            out.push_str(&frac);
        }
        Ok(Numeric(out))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let text = self.0.trim();
        let special = match text {
            "NaN" | "nan" => Some(NUMERIC_NAN),
            "Infinity" | "infinity" | "+Infinity" => Some(NUMERIC_PINF),
            "-Infinity" | "-infinity" => Some(NUMERIC_NINF),
            _ => None,
        };
        if let Some(sign) = special {
            out.put_i16(0);
            out.put_i16(0);
            out.put_u16(sign);
            out.put_u16(0);
            return Ok(IsNull::No);
        }
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("`{}` is not a decimal number", self.0).into());
        }
        let dscale = frac_part.len();
        let int_part = int_part.trim_start_matches('0');
        let int_pad = (4 - int_part.len() % 4) % 4;
        let int_digits = format!("{}{}", "0".repeat(int_pad), int_part);
        let frac_pad = (4 - frac_part.len() % 4) % 4;
        let frac_digits = format!("{}{}", frac_part, "0".repeat(frac_pad));
        let mut groups: Vec<i16> = int_digits
            .as_bytes()
            .chunks(4)
            .chain(frac_digits.as_bytes().chunks(4))
            .map(|c| std::str::from_utf8(c).unwrap().parse::<i16>().unwrap())
            .collect();
        let mut weight = (int_digits.len() / 4) as i32 - 1;
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        if groups.len() > i16::MAX as usize || dscale > 0x3FFF {
            return Err("decimal number too long".into());
        }
        out.put_i16(groups.len() as i16);
        out.put_i16(weight as i16);
        out.put_u16(if negative && !groups.is_empty() {
            NUMERIC_NEG
        } else {
            NUMERIC_POS
        });
        out.put_u16(dscale as u16);
        for g in groups {
            out.put_i16(g);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    postgres_types::to_sql_checked!();
}

/// An INTERVAL: months, days and microseconds, kept apart as PostgreSQL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgInterval {
    pub micros: i64,
    pub days: i32,
    pub months: i32,
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("interval must be 16 bytes".into());
        }
        Ok(Self {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

impl ToSql for PgInterval {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    postgres_types::to_sql_checked!();
}

/// The raw bytes of a value of any type (Spin's `unsupported`).
pub struct RawValue(pub Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut buf = BytesMut::new();
        Numeric(text.to_string())
            .to_sql(&Type::NUMERIC, &mut buf)
            .unwrap();
        Numeric::from_sql(&Type::NUMERIC, &buf).unwrap().0
    }

    #[test]
    fn numerics_round_trip_exactly() {
        for (input, expected) in [
            ("0", "0"),
            ("12.340", "12.340"),
            ("-12.340", "-12.340"),
            ("100000", "100000"),
            ("0.0001", "0.0001"),
            ("123456789.987654321", "123456789.987654321"),
            ("-0.5", "-0.5"),
            ("007", "7"),
            ("0.00", "0.00"),
            ("NaN", "NaN"),
            (
                "99999999999999999999999999.00001",
                "99999999999999999999999999.00001",
            ),
        ] {
            assert_eq!(round_trip(input), expected, "{input}");
        }
    }

    #[test]
    fn non_numbers_are_refused() {
        let mut buf = BytesMut::new();
        assert!(Numeric("12a".into())
            .to_sql(&Type::NUMERIC, &mut buf)
            .is_err());
        assert!(Numeric("".into()).to_sql(&Type::NUMERIC, &mut buf).is_err());
        assert!(Numeric(".".into())
            .to_sql(&Type::NUMERIC, &mut buf)
            .is_err());
    }

    #[test]
    fn numeric_decodes_what_postgres_sends_for_one_point_five() {
        // SELECT 1.5::numeric → ndigits 2, weight 0, sign +, dscale 1, digits [1, 5000]
        let raw = [0, 2, 0, 0, 0, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(Numeric::from_sql(&Type::NUMERIC, &raw).unwrap().0, "1.5");
    }
}
