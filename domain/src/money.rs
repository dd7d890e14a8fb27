use crate::error::DomainError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const IDR: Currency = Currency(*b"IDR");

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(DomainError::invalid("currency", "must be an ISO 4217 code such as IDR"))
        }
    }
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}
impl TryFrom<String> for Currency {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Currency::parse(&s)
    }
}
impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}
impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new().schema_type(Type::String).pattern(Some(CURRENCY_PATTERN)).examples(["IDR"]).into()
    }
}
impl utoipa::ToSchema for Currency {}

/// What `Currency::parse` accepts.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";
/// What `Rate::parse` accepts before range checks: digits with at most 4
/// decimal places and at most 14 integer digits, never negative.
pub const RATE_PATTERN: &str = "^[0-9]{1,14}(\\.[0-9]{1,4})?$";
/// A decimal amount as the API writes it (totals, nightly prices).
pub const DECIMAL_PATTERN: &str = "^-?[0-9]+(\\.[0-9]+)?$";

/// The schema of a decimal carried as a string (`"850000.00"`).
pub fn decimal_string_schema(pattern: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).examples(["850000.00"]).into()
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A nightly rate: a non-negative decimal with at most 4 decimal places and
/// at most 14 integer digits (IDR amounts run to the tens of millions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate(Decimal);

impl Rate {
    pub fn new(d: Decimal) -> Result<Self, DomainError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(DomainError::invalid("rate", "must not be negative"));
        }
        if d.scale() > 4 {
            return Err(DomainError::invalid("rate", "at most 4 decimal places"));
        }
        if d >= Decimal::from(100_000_000_000_000i64) {
            return Err(DomainError::invalid("rate", "too large"));
        }
        Ok(Rate(d.normalize()))
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
            return Err(DomainError::invalid("rate", "must be a decimal string such as \"850000.00\""));
        }
        let d = Decimal::from_str(s).map_err(|_| DomainError::invalid("rate", "must be a decimal string such as \"850000.00\""))?;
        Rate::new(d)
    }
    pub fn value(&self) -> Decimal {
        self.0
    }
}
impl TryFrom<String> for Rate {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Rate::parse(&s)
    }
}
impl From<Rate> for String {
    fn from(r: Rate) -> String {
        r.0.to_string()
    }
}
impl utoipa::PartialSchema for Rate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        decimal_string_schema(RATE_PATTERN)
    }
}
impl utoipa::ToSchema for Rate {}

/// For `#[schema(schema_with = …)]` on a `Decimal` serialized as a string.
pub fn decimal_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    decimal_string_schema(DECIMAL_PATTERN)
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An amount in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Money { amount, currency }
    }
    /// Rounds to the currency's customary precision: IDR has no minor unit
    /// in practice, JPY and KRW none at all, others two.
    pub fn rounded(self) -> Self {
        let dp = match self.currency.as_str() {
            "IDR" | "JPY" | "KRW" | "VND" => 0,
            _ => 2,
        };
        Money {
            amount: self.amount.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero),
            currency: self.currency,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rates_round_trip_through_strings(units in 0u64..100_000_000_000, frac in 0u32..10000) {
            let s = format!("{units}.{frac:04}");
            let r = Rate::parse(&s).unwrap();
            let back = Rate::parse(&String::from(r)).unwrap();
            prop_assert_eq!(r, back);
            prop_assert_eq!(r.value(), Decimal::from_str(&s).unwrap());
        }

        #[test]
        fn negative_rates_are_refused(units in 1u64..1_000_000) {
            let neg = format!("-{}", units);
            prop_assert!(Rate::parse(&neg).is_err());
        }
    }

    #[test]
    fn non_decimal_rates_are_refused() {
        for bad in ["", "abc", "1e5", "1,000", "NaN", "12.34567", "1.2.3"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Rate>("850000").is_err(), "a JSON number is not a decimal string");
    }

    #[test]
    fn currency_parses_iso_codes_only() {
        assert_eq!(Currency::parse("IDR").unwrap(), Currency::IDR);
        assert!(Currency::parse("idr").is_err());
        assert!(Currency::parse("RUPIAH").is_err());
    }

    #[test]
    fn idr_rounds_to_whole_rupiah() {
        let m = Money::new(Decimal::from_str("850000.5").unwrap(), Currency::IDR).rounded();
        assert_eq!(m.amount, Decimal::from(850001));
    }
}
