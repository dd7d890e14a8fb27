//! Codes are what the PMS and the OTA mappings use, so they are what appears
//! in URLs and bodies. Each one is parsed once, at the edge.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

fn valid_code(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// What `valid_code` accepts, as an OpenAPI regular expression.
pub const CODE_PATTERN: &str = "^[A-Za-z0-9._-]+$";

/// The schema of a code of at most `max` bytes (all ASCII, so characters).
pub fn code_schema(max: usize) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(max)).pattern(Some(CODE_PATTERN)).into()
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
                let s = s.into();
                if valid_code(&s, $max) {
                    Ok(Self(s))
                } else {
                    Err(DomainError::invalid(
                        $field,
                        format!("must be 1-{} characters of A-Z a-z 0-9 - _ .", $max),
                    ))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }
        impl From<$name> for String {
            fn from(c: $name) -> String {
                c.0
            }
        }
        // In the API document: the same rule `parse` applies, so a client
        // generated from it refuses what the server would.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                code_schema($max)
            }
        }
        impl utoipa::ToSchema for $name {}
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

code_type!(
    /// A property's code, unique across the installation.
    PropertyCode, "code", 32);
code_type!(
    /// A room type's code, unique within its property.
    RoomTypeCode, "room_type", 32);
code_type!(
    /// A rate plan's code, unique within its property.
    RatePlanCode, "rate_plan", 32);
code_type!(
    /// A room's number, unique within its property.
    RoomNumber, "number", 16);
code_type!(
    /// A channel connection's code (property × OTA), unique within its property.
    ChannelCode, "code", 32);
code_type!(
    /// A tenant (hotel group) in SaaS mode; `default` in standalone mode.
    TenantCode, "tenant", 64);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn valid_codes_round_trip(s in "[A-Za-z0-9_.-]{1,32}") {
            let c = PropertyCode::parse(s.clone()).unwrap();
            prop_assert_eq!(c.as_str(), s.as_str());
            let json = serde_json::to_string(&c).unwrap();
            let back: PropertyCode = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, c);
        }

        #[test]
        fn codes_with_other_characters_are_refused(s in ".*[^A-Za-z0-9_.-].*") {
            prop_assert!(PropertyCode::parse(s).is_err());
        }
    }

    #[test]
    fn empty_and_long_codes_are_refused() {
        assert!(RoomTypeCode::parse("").is_err());
        assert!(RoomTypeCode::parse("x".repeat(33)).is_err());
        assert!(serde_json::from_str::<RoomTypeCode>("\"a b\"").is_err());
    }
}
