//! The HTTP boundary's error type: every failure becomes
//! `{"error":{"code","message",...}}` with a stable `code`.

use crate::service::ari::AriError;
use crate::service::bookings::BookingError;
use crate::service::channels::ChannelError;
use crate::service::front_desk::FrontDeskError;
use crate::service::housekeeping::TaskError;
use crate::service::reservations::ReservationError;
use crate::service::setup::SetupError;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use saluran_actors::{ActorError, ShardError};
use saluran_domain::store::StoreError;
use saluran_domain::DomainError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None }
    }
    pub fn unauthorized(msg: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg)
    }
    pub fn forbidden(msg: &str) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg)
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
    pub fn unavailable(msg: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", msg)
    }
    /// A request body that could not be read, by why: over the size limit
    /// (413 `payload_too_large`), not complete within
    /// `http_body_timeout_secs` (408 `request_timeout`), or cut off by the
    /// client (400 `body_incomplete`).
    pub fn body_read(e: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause = Some(e);
        let (mut too_large, mut timed_out) = (false, false);
        while let Some(c) = cause {
            too_large |= c.is::<http_body_util::LengthLimitError>();
            timed_out |= c.is::<crate::server::BodyTimeout>();
            cause = c.source();
        }
        if timed_out {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request body did not arrive in time")
        } else if too_large {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "body_incomplete", "the request body could not be read to its end")
        }
    }
}

/// `{"error":{"code","field"?,"message"}}`: the body of every API error
/// (its schema, with every code, is in `openapi.rs`). Fields are in
/// alphabetical order: the body used to be a `json!` map (sorted keys).
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize)]
struct ErrorDetail {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    message: String,
}

impl ErrorBody {
    /// The body `e` answers with, for a caller that keeps `e` (to store
    /// the bytes it will send).
    pub fn of(e: &ApiError) -> Self {
        ErrorBody { error: ErrorDetail { code: e.code, field: e.field.clone(), message: e.message.clone() } }
    }
}

impl From<ApiError> for ErrorBody {
    fn from(e: ApiError) -> Self {
        ErrorBody { error: ErrorDetail { code: e.code, field: e.field, message: e.message } }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut resp = (status, Json(ErrorBody::from(self))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        resp
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let status = match e {
            DomainError::UnknownRoomType(_) | DomainError::UnknownRatePlan(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DomainError::NotAvailable(_) | DomainError::InvalidTransition(..) | DomainError::Stay(_) => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let field = match &e {
            DomainError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        ApiError { status, code: e.code(), message: e.to_string(), field }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "already_exists", format!("already exists: {m}")),
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::unavailable("the database is unavailable; retry later")
            }
        }
    }
}

impl From<ShardError> for ApiError {
    fn from(e: ShardError) -> Self {
        match e {
            ShardError::Unavailable(why) => {
                ApiError::new(StatusCode::CONFLICT, "not_available", format!("not available: {}", why.as_str()))
                    .with_field_value(why.as_str())
            }
            ShardError::Invalid(d) => d.into(),
            ShardError::ReservationNotFound(id) => ApiError::not_found(format!("reservation {id} not found")),
            ShardError::Store(m) => {
                tracing::error!(error = %m, "shard store error");
                ApiError::unavailable("the database is unavailable; retry later")
            }
        }
    }
}

impl ApiError {
    /// For `not_available`, `field` carries the reason (`sold_out`, `min_stay`, …).
    fn with_field_value(mut self, reason: &str) -> Self {
        self.field = Some(reason.to_owned());
        self
    }
}

impl From<ActorError> for ApiError {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::PropertyNotFound(p) => ApiError::not_found(format!("property {p} not found")),
            ActorError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            ActorError::RoomTypeNotFound(r) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_room_type", format!("unknown room type {r}"))
            }
            ActorError::Shard(s) => s.into(),
            ActorError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "already_exists", format!("already exists: {m}")),
            ActorError::Unavailable(m) => ApiError::unavailable(m),
            ActorError::Overloaded(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", m),
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::NoRoom => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_field", e.to_string()),
            BookingError::CancelRaced => ApiError::unavailable(e.to_string()),
            BookingError::Invalid(d) => d.into(),
            BookingError::Store(s) => s.into(),
            BookingError::Actor(a) => a.into(),
        }
    }
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        match e {
            TaskError::Invalid(d) => d.into(),
            TaskError::NotFound(what) => ApiError::not_found(what),
            TaskError::Store(s) => s.into(),
            TaskError::Actor(a) => a.into(),
        }
    }
}

impl From<ReservationError> for ApiError {
    fn from(e: ReservationError) -> Self {
        match e {
            ReservationError::Invalid(d) => d.into(),
            ReservationError::NotFound(_) => ApiError::not_found(e.to_string()),
            ReservationError::Store(s) => s.into(),
            ReservationError::Actor(a) => a.into(),
        }
    }
}

impl From<FrontDeskError> for ApiError {
    fn from(e: FrontDeskError) -> Self {
        match e {
            FrontDeskError::Actor(a) => a.into(),
        }
    }
}

impl From<ChannelError> for ApiError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::NotFound(_) => ApiError::not_found(e.to_string()),
            ChannelError::Store(s) => s.into(),
            ChannelError::Actor(a) => a.into(),
        }
    }
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::Invalid(d) => d.into(),
            SetupError::Store(s) => s.into(),
            SetupError::Actor(a) => a.into(),
        }
    }
}

impl From<AriError> for ApiError {
    fn from(e: AriError) -> Self {
        match e {
            AriError::Actor(a) => a.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send Content-Type: application/json")
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            }
            JsonRejection::BytesRejection(e) => ApiError::body_read(&e),
            other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", other.body_text()),
        }
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        match r {
            FormRejection::InvalidFormContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send Content-Type: application/x-www-form-urlencoded",
            ),
            FormRejection::FailedToDeserializeForm(e) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text()),
            FormRejection::FailedToDeserializeFormBody(e) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.body_text()),
            FormRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            }
            FormRejection::BytesRejection(e) => ApiError::body_read(&e),
            other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_is_byte_for_byte_what_it_was() {
        use serde_json::json;
        let plain = ApiError::new(StatusCode::CONFLICT, "not_available", "sold \"out\"");
        let old = json!({"error": {"code": "not_available", "message": "sold \"out\""}}).to_string();
        assert_eq!(serde_json::to_string(&ErrorBody::of(&plain)).unwrap(), old);
        assert_eq!(serde_json::to_string(&ErrorBody::from(plain)).unwrap(), old);
        let with_field = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "bad").with_field("updates[0].rate");
        let old = json!({"error": {"code": "invalid_field", "message": "bad", "field": "updates[0].rate"}}).to_string();
        assert_eq!(serde_json::to_string(&ErrorBody::from(with_field)).unwrap(), old);
    }

    /// The webhook answers carry these codes: the service's errors must keep
    /// the ones ingest answered with before it knew no HTTP.
    #[test]
    fn booking_errors_keep_their_status_and_code() {
        let e = ApiError::from(BookingError::NoRoom);
        assert_eq!((e.status, e.code, e.message.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "missing_field", "the booking has no room"));
        let e = ApiError::from(BookingError::CancelRaced);
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"));
        assert_eq!(e.message, "the booking changed while it was being cancelled; retry");
        let e = ApiError::from(BookingError::Actor(ActorError::Overloaded("busy".into())));
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "overloaded"));
        let e = ApiError::from(BookingError::Store(StoreError::NotFound("x".into())));
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "not_found"));
    }

    #[test]
    fn reservation_and_task_errors_keep_their_status_and_code() {
        let e = ApiError::from(ReservationError::NotFound("R1".into()));
        assert_eq!((e.status, e.code, e.message.as_str()), (StatusCode::NOT_FOUND, "not_found", "reservation R1 not found"));
        let e = ApiError::from(ReservationError::Invalid(DomainError::UnknownRoomType("X".into())));
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_room_type"));
        let e = ApiError::from(TaskError::NotFound("task t not found".into()));
        assert_eq!((e.status, e.code, e.message.as_str()), (StatusCode::NOT_FOUND, "not_found", "task t not found"));
        let e = ApiError::from(TaskError::Invalid(DomainError::InvalidTransition("open".into(), "finish".into())));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "invalid_transition"));
        let e = ApiError::from(ChannelError::NotFound(saluran_domain::ChannelCode::parse("BDC").unwrap()));
        assert_eq!((e.status, e.code, e.message.as_str()), (StatusCode::NOT_FOUND, "not_found", "channel BDC not found"));
        let e = ApiError::from(SetupError::Actor(ActorError::Conflict("room type STD".into())));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "already_exists"));
        let e = ApiError::from(FrontDeskError::Actor(ActorError::Unavailable("restarting".into())));
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"));
    }
}
