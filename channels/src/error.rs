//! The one error type of the codecs. Every variant has a stable machine string
//! ([`CodecError::code`]) and an HTTP status hint ([`CodecError::http_status`]),
//! so a webhook can answer hostile or malformed input with a clean 4xx (I7).

use thiserror::Error;

/// Why a body could not be read (or a signature checked).
///
/// Messages never echo large parts of the input back: values quoted in a
/// message are cut to a few dozen characters.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The body is larger than the configured cap (checked before parsing).
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The XML carries a `<!DOCTYPE`: refused outright, so no entity can ever be declared.
    #[error("DOCTYPE declarations are not accepted")]
    Doctype,
    /// Elements nest deeper than the configured bound.
    #[error("elements nest deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// More elements than the configured bound.
    #[error("more than {limit} elements")]
    TooManyElements { limit: usize },
    /// The body is not UTF-8 (or declares another encoding).
    #[error("body is not UTF-8: {0}")]
    NotUtf8(String),
    /// A reference to an entity other than the five predefined ones.
    #[error("undeclared entity reference &{0};")]
    UndeclaredEntity(String),
    /// A character reference or a literal character that XML does not allow.
    #[error("invalid character: {0}")]
    InvalidChar(String),
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Well-formed XML, but not the message expected here.
    #[error("unexpected root element <{found}>, expected {expected}")]
    UnexpectedRoot { expected: String, found: String },
    /// A required element or attribute is missing (`path` names it, e.g. `StatusApplicationControl@Start`).
    #[error("missing {0}")]
    MissingField(String),
    /// A field is present but its value is not acceptable.
    #[error("invalid value for {field}: {reason}")]
    InvalidValue { field: String, reason: String },
    /// The message breaks a rule of its profile beyond the schema (e.g. AlpineBits FreeRooms rules).
    #[error("{rule}: {message}")]
    RuleViolation { rule: &'static str, message: String },
    /// The counterpart answered with an error response (`Errors/Error`), one entry per error.
    #[error("the remote side reported errors: {}", .0.join("; "))]
    RemoteErrors(Vec<String>),
    /// A JSON body larger than the configured cap (checked before parsing).
    #[error("JSON body of {size} bytes exceeds the limit of {limit} bytes")]
    JsonTooLarge { size: usize, limit: usize },
    /// Not well-formed JSON, or JSON of the wrong shape.
    #[error("malformed JSON: {0}")]
    JsonMalformed(String),
    /// An id, code, token or name longer than its cap (OpenTravel's
    /// StringLength1to64 for ids and names, 1to128 for `EchoToken`; the XML
    /// reader's cap for any attribute).
    #[error("{field} is longer than {max} characters")]
    TooLong { field: String, max: usize },
    /// The signature does not match the body and timestamp (or is not hex).
    #[error("signature does not match")]
    BadSignature,
    /// The signed timestamp is too old or too far in the future.
    #[error("timestamp {timestamp} is outside the {window_secs} s window around {now}")]
    TimestampOutOfWindow { timestamp: i64, now: i64, window_secs: i64 },
}

impl CodecError {
    /// The stable machine-readable code, for `{"error":{"code":…}}` bodies and OTA error texts.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::TooLarge { .. } => "xml_too_large",
            CodecError::Doctype => "xml_doctype",
            CodecError::TooDeep { .. } => "xml_too_deep",
            CodecError::TooManyElements { .. } => "xml_too_many_elements",
            CodecError::NotUtf8(_) => "xml_not_utf8",
            CodecError::UndeclaredEntity(_) => "xml_undeclared_entity",
            CodecError::InvalidChar(_) => "xml_invalid_char",
            CodecError::Malformed(_) => "xml_malformed",
            CodecError::UnexpectedRoot { .. } => "xml_unexpected_root",
            CodecError::MissingField(_) => "missing_field",
            CodecError::InvalidValue { .. } => "invalid_value",
            CodecError::RuleViolation { .. } => "rule_violation",
            CodecError::RemoteErrors(_) => "remote_error",
            CodecError::TooLong { .. } => "value_too_long",
            CodecError::JsonTooLarge { .. } => "json_too_large",
            CodecError::JsonMalformed(_) => "json_malformed",
            CodecError::BadSignature => "bad_signature",
            CodecError::TimestampOutOfWindow { .. } => "stale_signature",
        }
    }

    /// The HTTP status a server should answer with when this error refuses a request:
    /// 413 for oversized bodies, 401 for signature failures, 502 for errors reported
    /// by the remote side, 400 for everything else.
    pub fn http_status(&self) -> u16 {
        match self {
            CodecError::TooLarge { .. } | CodecError::JsonTooLarge { .. } => 413,
            CodecError::BadSignature | CodecError::TimestampOutOfWindow { .. } => 401,
            CodecError::RemoteErrors(_) => 502,
            _ => 400,
        }
    }

    pub(crate) fn missing(path: impl Into<String>) -> Self {
        CodecError::MissingField(path.into())
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CodecError::InvalidValue { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn rule(rule: &'static str, message: impl Into<String>) -> Self {
        CodecError::RuleViolation { rule, message: message.into() }
    }
}

/// Cuts a value quoted in an error message to a short, printable excerpt.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = s.chars().take(MAX).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}
