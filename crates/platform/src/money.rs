//! Money: an integer amount in the currency's ISO 4217 minor units plus the currency code.
//!
//! This table is the one place that knows each currency's exponent (TZS and KES have 2, so
//! 1,000 TZS is 100000). There is no currency conversion anywhere in Nexgate.

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// Currencies Nexgate handles, with their ISO 4217 minor-unit exponents.
const CURRENCIES: &[(&str, u32)] = &[
    ("TZS", 2),
    ("KES", 2),
    ("UGX", 0),
    ("RWF", 0),
    ("BIF", 0),
    ("ETB", 2),
    ("ZAR", 2),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
];

/// A supported currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

impl Currency {
    /// Looks up an ISO 4217 code (upper case).
    pub fn parse(code: &str) -> Result<Self, Problem> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(c, e)| Currency {
                code: c,
                exponent: *e,
            })
            .ok_or_else(|| {
                Problem::invalid_field(
                    "currency",
                    format!("`{code}` is not a supported ISO 4217 currency"),
                )
            })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of decimal places of the minor unit.
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Minor units in one major unit (100 for TZS, 1 for UGX).
    pub fn minor_per_major(&self) -> i64 {
        10_i64.pow(self.exponent)
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(|_| {
            serde::de::Error::custom(format!("`{code}` is not a supported ISO 4217 currency"))
        })
    }
}

/// An amount of money in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Amount in the currency's minor units (cents for TZS/KES).
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// An amount in minor units of the currency with ISO 4217 `code` (a 422 naming `currency`
    /// when it is not one Nexgate handles).
    pub fn of(amount: i64, code: &str) -> Result<Self, Problem> {
        Ok(Self::new(amount, Currency::parse(code)?))
    }

    /// A whole number of major units (`1000` TZS → 100000 minor units); `None` on overflow.
    pub fn from_whole_major(major: i64, currency: Currency) -> Option<Self> {
        major
            .checked_mul(currency.minor_per_major())
            .map(|amount| Self::new(amount, currency))
    }

    /// The amount in whole major units, or `None` when it has a fraction of one (mobile money
    /// moves whole units only).
    pub fn whole_major(&self) -> Option<i64> {
        let unit = self.currency.minor_per_major();
        (self.amount % unit == 0).then_some(self.amount / unit)
    }

    /// Parses a decimal major-unit string exactly (`"1000.50"` TZS → 100050); more decimals than
    /// the currency has is an error, never a rounding.
    pub fn from_major(text: &str, currency: Currency) -> Result<Self, Problem> {
        let bad = || {
            Problem::invalid_field(
                "amount",
                format!("`{text}` is not an amount in {}", currency.code),
            )
        };
        let (negative, body) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        if frac.len() as u32 > currency.exponent {
            return Err(Problem::invalid_field(
                "amount",
                format!("{} has {} decimal places", currency.code, currency.exponent),
            ));
        }
        let scale = 10i64.pow(currency.exponent);
        let int: i64 = int.parse().map_err(|_| bad())?;
        let frac_padded = format!("{frac:0<width$}", width = currency.exponent as usize);
        let frac: i64 = if frac_padded.is_empty() {
            0
        } else {
            frac_padded.parse().map_err(|_| bad())?
        };
        let amount = int
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac))
            .ok_or_else(bad)?;
        Ok(Self::new(if negative { -amount } else { amount }, currency))
    }

    /// The major-unit decimal text (`100050` TZS → `"1000.50"`).
    pub fn to_major(&self) -> String {
        let e = self.currency.exponent;
        if e == 0 {
            return self.amount.to_string();
        }
        let scale = 10i64.pow(e);
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / scale as u64,
            abs % scale as u64,
            width = e as usize
        )
    }

    /// Adds two amounts of the same currency; overflow or a currency mix is an error.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        self.amount
            .checked_add(other.amount)
            .map(|a| Money::new(a, self.currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tzs_and_kes_have_two_decimals() {
        let tzs = Currency::parse("TZS").unwrap();
        assert_eq!(Money::from_major("1000", tzs).unwrap().amount, 100_000);
        assert_eq!(Money::from_major("1000.5", tzs).unwrap().amount, 100_050);
        assert_eq!(Money::new(100_050, tzs).to_major(), "1000.50");
        assert_eq!(Currency::parse("KES").unwrap().exponent(), 2);
        let m = Money::of(100_000, "TZS").unwrap();
        assert_eq!(m.whole_major(), Some(1000));
        assert_eq!(Money::of(100_050, "TZS").unwrap().whole_major(), None);
        assert_eq!(Money::from_whole_major(1000, tzs), Some(m));
        assert_eq!(Money::from_whole_major(i64::MAX, tzs), None);
        assert_eq!(Money::of(5, "UGX").unwrap().whole_major(), Some(5));
        assert!(Money::of(1, "XXX").is_err());
    }

    #[test]
    fn too_many_decimals_are_refused_not_rounded() {
        let tzs = Currency::parse("TZS").unwrap();
        assert!(Money::from_major("1.005", tzs).is_err());
        let ugx = Currency::parse("UGX").unwrap();
        assert!(Money::from_major("1.5", ugx).is_err());
        assert_eq!(Money::new(1500, ugx).to_major(), "1500");
    }

    #[test]
    fn unknown_currencies_and_mixes_are_refused() {
        assert!(Currency::parse("XXX").is_err());
        let a = Money::new(1, Currency::parse("TZS").unwrap());
        let b = Money::new(1, Currency::parse("KES").unwrap());
        assert!(a.checked_add(b).is_none());
        assert!(Money::new(i64::MAX, a.currency).checked_add(a).is_none());
    }

    #[test]
    fn negative_amounts_format() {
        assert_eq!(
            Money::new(-5, Currency::parse("USD").unwrap()).to_major(),
            "-0.05"
        );
    }
}
