//! Wires channel connections: preset → push policy and rate limits,
//! sealed credentials → HTTP auth, profile → codec and transport.
//!
//! The transports live here, beside reqwest, rather than in the codec
//! crate, which stays free of I/O (decision 0002).

use crate::presets::Presets;
use crate::secrets::Sealer;
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use saluran_actors::channel::reproject;
use saluran_actors::channel::{
    chunked, chunked_by_weight, AriTransport, BookingPuller, ChannelFactory, ChannelWiring, OtaMessage, PullSchedule, PushError,
};
use saluran_channels::model::InboundBooking;
use saluran_channels::model::{AriRange, AriValues};
use saluran_domain::channel::{ChannelConfig, Profile};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Default largest OTA answer to an ARI push (or an acknowledgement) read, in
/// bytes (the preset's `max_answer_bytes`). Such answers are a success or error
/// RS of a few hundred bytes; 1 MiB is the body cap DESIGN §5 sets for what the
/// OTAs send us.
pub const ARI_ANSWER_CAP: usize = crate::presets::DEFAULT_MAX_ANSWER_BYTES;
/// Default largest pulled booking feed read (`OTA_ResRetrieveRS`,
/// booking-revisions feed), in bytes (the preset's `max_feed_bytes`): a feed
/// lists many bookings at once (hundreds of KiB for a busy property), so it
/// gets 8 MiB, and its parser the same cap.
pub const FEED_ANSWER_CAP: usize = crate::presets::DEFAULT_MAX_FEED_BYTES;

/// Parser limits for a pulled feed: `cap` bytes, the rest as for any message.
fn feed_limits(cap: usize) -> saluran_channels::Limits {
    saluran_channels::Limits { max_bytes: cap, ..saluran_channels::Limits::default() }
}

pub struct Factory {
    presets: Presets,
    sealer: Sealer,
    http: reqwest::Client,
    /// One limiter per OTA account (preset + endpoint + user), shared by
    /// every connection that uses it.
    accounts: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

impl Factory {
    pub fn new(presets: Presets, sealer: Sealer) -> anyhow::Result<Factory> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(8)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("saluran/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Factory { presets, sealer, http, accounts: Mutex::new(HashMap::new()) })
    }
}

impl ChannelFactory for Factory {
    fn build(&self, config: &ChannelConfig, property: &saluran_domain::property::Property) -> Result<ChannelWiring, String> {
        let preset = self.presets.get(&config.preset).ok_or_else(|| format!("unknown preset {}", config.preset))?;
        let creds_raw = self.sealer.open(&config.sealed_credentials).map_err(|e| e.to_string())?;
        let creds: BTreeMap<String, String> = serde_json::from_slice(&creds_raw).map_err(|e| format!("credentials: {e}"))?;
        let user = creds.get("username").cloned().unwrap_or_default();
        let secret = creds.get("password").or_else(|| creds.get("api_key")).cloned().unwrap_or_default();
        let account_key = format!("{}|{}|{}", preset.name, config.endpoint, user);
        let account_limiter = NonZeroU32::new(preset.account_requests_per_minute).map(|n| {
            self.accounts.lock().entry(account_key).or_insert_with(|| Arc::new(RateLimiter::direct(Quota::per_minute(n)))).clone()
        });
        let policy = preset.push_policy();
        let target = || HttpTarget {
            http: self.http.clone(),
            timeout: policy.timeout,
            endpoint: config.endpoint.clone(),
            hotel_code: config.hotel_code.clone(),
            user: user.clone(),
            secret: secret.clone(),
            answer_cap: preset.max_answer_bytes.max(1),
            feed_cap: preset.max_feed_bytes.max(1),
            property: config.property.to_string(),
            channel: config.code.to_string(),
        };
        let every = Duration::from_secs(preset.poll_interval_secs.max(1));
        let (transport, puller): (Arc<dyn AriTransport>, PullSchedule) = match config.profile {
            Profile::Opentravel => (
                Arc::new(OpenTravel {
                    target: target(),
                    currency: property.currency.to_string(),
                    min_stay_through: preset.carries_min_stay_through(),
                }),
                None,
            ),
            Profile::Alpinebits => {
                (Arc::new(AlpineBits(target())), Some((Arc::new(AlpineBits(target())) as Arc<dyn BookingPuller>, every)))
            }
            Profile::Jsonrest => {
                let through = preset.carries_min_stay_through();
                (Arc::new(JsonRest(target(), through)), Some((Arc::new(JsonRest(target(), through)) as Arc<dyn BookingPuller>, every)))
            }
        };
        Ok(ChannelWiring { transport, policy, account_limiter, puller })
    }
}

struct HttpTarget {
    http: reqwest::Client,
    /// Time limit of one OTA call, from connecting until the answer's body is
    /// read (the preset's `timeout_secs`): pulls and acknowledgements too.
    timeout: Duration,
    endpoint: String,
    hotel_code: String,
    user: String,
    secret: String,
    /// Largest answer to a push or acknowledgement read (preset `max_answer_bytes`).
    answer_cap: usize,
    /// Largest pulled booking feed read (preset `max_feed_bytes`).
    feed_cap: usize,
    /// The connection, for metric labels and logs.
    property: String,
    channel: String,
}

impl HttpTarget {
    /// Reads an answer of at most `cap` bytes (see [`text_of`]).
    async fn read(&self, result: reqwest::Result<reqwest::Response>, cap: usize) -> Result<String, PushError> {
        text_of(result, cap, &self.property, &self.channel).await
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers().get("retry-after")?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Maps an HTTP outcome to the push pipeline's error kinds.
async fn classify(
    target: &HttpTarget,
    result: reqwest::Result<reqwest::Response>,
    success: impl Fn(&str) -> Result<(), String>,
) -> Result<(), PushError> {
    let body = target.read(result, target.answer_cap).await?;
    success(&body).map_err(PushError::Rejected)
}

struct OpenTravel {
    target: HttpTarget,
    /// Rates go out in the property's currency.
    currency: String,
    /// Whether this OTA is sent minimum stays *through* (the preset's
    /// `min_stay_through`); when not, the value is never written.
    min_stay_through: bool,
}

impl OpenTravel {
    /// The endpoint path and XML body of one message.
    fn message(&self, message: &OtaMessage, stamp: jiff::Timestamp) -> (&'static str, String) {
        use saluran_channels::opentravel;
        let t = &self.target;
        let echo = uuid::Uuid::now_v7().to_string();
        match message.kind {
            "rate" => {
                ("OTA_HotelRateAmountNotif", opentravel::rate_amount_notif_rq(&t.hotel_code, &message.ranges, &self.currency, &echo, stamp))
            }
            _ => ("OTA_HotelAvailNotif", opentravel::avail_notif_rq(&t.hotel_code, &message.ranges, &echo, stamp)),
        }
    }
}

#[async_trait]
impl AriTransport for OpenTravel {
    /// Availability and restrictions go in `OTA_HotelAvailNotifRQ`, rates in
    /// `OTA_HotelRateAmountNotifRQ`: each compressed on its own values, and
    /// split so that no message has more than `max` `AvailStatusMessage` /
    /// `RateAmountMessage` elements (a range writes up to four of the former).
    /// Minimum stays through go only to an OTA whose preset carries them.
    fn plan(&self, ranges: &[AriRange], max: usize) -> Vec<OtaMessage> {
        use saluran_channels::opentravel::{avail_status_messages, rate_amount_messages};
        let through = self.min_stay_through;
        let avail = reproject(ranges, |v| AriValues {
            rate: None,
            occupancy_rates: Vec::new(),
            min_stay_through: v.min_stay_through.filter(|_| through),
            ..v.clone()
        });
        let priced: Vec<AriRange> =
            reproject(ranges, |v| AriValues { rate: v.rate, occupancy_rates: v.occupancy_rates.clone(), ..AriValues::default() })
                .into_iter()
                .filter(|r| r.values.rate.is_some() || !r.values.occupancy_rates.is_empty())
                .collect();
        let mut out = chunked_by_weight("avail", avail, max, |r| avail_status_messages(&r.values));
        out.extend(chunked_by_weight("rate", priced, max, |r| rate_amount_messages(&r.values)));
        out
    }

    async fn send(&self, message: &OtaMessage, stamp: jiff::Timestamp) -> Result<(), PushError> {
        use saluran_channels::opentravel;
        let t = &self.target;
        let (path, body) = self.message(message, stamp);
        let r = t
            .http
            .post(format!("{}/{path}", t.endpoint))
            .timeout(t.timeout)
            .basic_auth(&t.user, Some(&t.secret))
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await;
        classify(t, r, |b| opentravel::check_notif_rs(b.as_bytes()).map_err(|e| answer_reason(&e))).await
    }
}

struct AlpineBits(HttpTarget);

#[async_trait]
impl AriTransport for AlpineBits {
    /// FreeRooms carries free rooms per room only.
    fn plan(&self, ranges: &[AriRange], max: usize) -> Vec<OtaMessage> {
        // Availability is per room type: every rate mapping of a room carries
        // the same counts, so keep the first mapping's ranges per room, then
        // merge what differed only in rates or restrictions.
        let mut first_rate: HashMap<&str, Option<&str>> = HashMap::new();
        let rooms: Vec<AriRange> = ranges
            .iter()
            .filter(|r| *first_rate.entry(r.ota_room.as_str()).or_insert(r.ota_rate.as_deref()) == r.ota_rate.as_deref())
            .map(|r| AriRange { ota_rate: None, ..r.clone() })
            .collect();
        let rooms = reproject(&rooms, |v| AriValues { available: v.available, stop_sell: v.stop_sell, ..AriValues::default() });
        chunked("freerooms", rooms, max)
    }

    async fn send(&self, message: &OtaMessage, stamp: jiff::Timestamp) -> Result<(), PushError> {
        use saluran_channels::alpinebits;
        let t = &self.0;
        let Some(request) = alpinebits::freerooms_rq(&t.hotel_code, &message.ranges, false) else {
            return Ok(());
        };
        let body = t.alpinebits(alpinebits::ACTION_FREEROOMS, request, Some(stamp), t.answer_cap).await?;
        alpinebits::parse_freerooms_rs_warnings(body.as_bytes(), &saluran_channels::Limits::default())
            .map(|_| ())
            .map_err(|e| PushError::Rejected(answer_reason(&e)))
    }
}

/// The JSON REST transport; the flag says whether minimum stays through are
/// sent (the preset's `min_stay_through`, on by default for this profile).
struct JsonRest(HttpTarget, bool);

#[async_trait]
impl AriTransport for JsonRest {
    fn plan(&self, ranges: &[AriRange], max: usize) -> Vec<OtaMessage> {
        if self.1 {
            return chunked("ari", ranges.to_vec(), max);
        }
        let ranges = reproject(ranges, |v| AriValues { min_stay_through: None, ..v.clone() });
        chunked("ari", ranges, max)
    }

    async fn send(&self, message: &OtaMessage, stamp: jiff::Timestamp) -> Result<(), PushError> {
        use saluran_channels::jsonrest;
        let t = &self.0;
        let body = jsonrest::ari_batch_at(&t.hotel_code, &message.ranges, stamp);
        let r = t.http.post(format!("{}/ari", t.endpoint)).timeout(t.timeout).header("X-Api-Key", &t.secret).json(&body).send().await;
        classify(t, r, |_| Ok(())).await
    }
}

/// Bookings the OTA sent that we could not read: alerted, never silent.
fn report_unreadable(source: &str, invalid: &[(String, saluran_channels::CodecError)]) {
    for (id, e) in invalid {
        // The kind only at error level: the error's text quotes the answer.
        tracing::error!(source, ota_id = %id, error_kind = e.code(), "unreadable booking from the OTA");
        tracing::debug!(source, ota_id = %id, error = %e, "unreadable booking from the OTA (detail)");
        metrics::counter!("saluran_unreadable_bookings_total").increment(1);
    }
}

/// Why an answer could not be used, in words that carry nothing of its body
/// (the endpoint may be any URL an admin typed, even an internal page): the
/// codec's error kind, or the OTA's numeric error codes.
fn answer_reason(e: &saluran_channels::CodecError) -> String {
    match e {
        saluran_channels::CodecError::RemoteErrors(errors) => {
            // Each reported error reads "Type/Code ShortText: text": only a
            // numeric "Type/Code" is kept.
            let codes: Vec<&str> = errors
                .iter()
                .map(|e| {
                    e.split_whitespace()
                        .next()
                        .filter(|c| {
                            c.len() <= 16 && c.bytes().any(|b| b.is_ascii_digit()) && c.bytes().all(|b| b.is_ascii_digit() || b == b'/')
                        })
                        .unwrap_or("?")
                })
                .take(5)
                .collect();
            format!("OTA refused: {}", codes.join(", "))
        }
        e => format!("invalid answer: {}", e.code()),
    }
}

/// A transport failure in a few words: never the error's text, which can
/// quote what the other side sent.
fn transport_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        let refused = std::error::Error::source(e)
            .into_iter()
            .flat_map(|s| std::iter::successors(Some(s), |s| s.source()))
            .any(|s| s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused));
        if refused {
            "connection refused"
        } else {
            "connection failed"
        }
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "answer cut short"
    } else {
        "request failed"
    }
}

/// The answer's body, or the push pipeline's error kind for it: 429 →
/// rate limited, transport errors (the call's time limit included), 408 and
/// 5xx → transient (retry), other non-2xx → rejected. Errors carry the status
/// and a short reason only. A non-2xx answer is classified by its status alone:
/// its body is never read (it is logged at debug by its stated length only), so
/// a refusal is a refusal whatever its size. The body of a 2xx answer is read in
/// chunks and at most `cap` bytes of it are ever held: a larger one (by its
/// `Content-Length` or as it streams) stops the read there and is a transient
/// failure, retried with backoff like a 5xx (issue 8: a 200 MB answer used to be
/// buffered whole, every minute), counted in
/// `saluran_channel_oversized_answers_total{property,channel}` and reported in the
/// connection's `last_error` when the tries run out.
async fn text_of(result: reqwest::Result<reqwest::Response>, cap: usize, property: &str, channel: &str) -> Result<String, PushError> {
    let mut resp = result.map_err(|e| PushError::Transient(transport_reason(&e).to_owned()))?;
    let status = resp.status();
    if status.as_u16() == 429 {
        return Err(PushError::RateLimited { retry_after: retry_after(&resp) });
    }
    if !status.is_success() {
        tracing::debug!(property, channel, status = status.as_u16(), body_bytes = ?resp.content_length(), "the OTA refused a request");
        // Dropping the response unread closes the connection instead of draining it.
        drop(resp);
        if status.is_server_error() || status.as_u16() == 408 {
            return Err(PushError::Transient(format!("HTTP {}", status.as_u16())));
        }
        return Err(PushError::Rejected(format!("HTTP {}", status.as_u16())));
    }
    let too_large = || {
        metrics::counter!("saluran_channel_oversized_answers_total", "property" => property.to_owned(), "channel" => channel.to_owned())
            .increment(1);
        tracing::warn!(property, channel, %status, cap, "OTA answer over the size cap; not read further");
        PushError::Transient(format!("HTTP {}: answer larger than {cap} bytes", status.as_u16()))
    };
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut body: Vec<u8> = Vec::with_capacity(resp.content_length().map_or(0, |n| n as usize).min(cap));
    while let Some(chunk) = resp.chunk().await.map_err(|e| PushError::Transient(format!("reading the answer: {}", transport_reason(&e))))? {
        if body.len() + chunk.len() > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

impl HttpTarget {
    /// One AlpineBits request: multipart `action` + `request`, HTTP Basic.
    /// `stamp` (when the state was read) goes in a header, as FreeRooms has
    /// no time stamp of its own.
    async fn alpinebits(
        &self,
        action: &'static str,
        request: String,
        stamp: Option<jiff::Timestamp>,
        cap: usize,
    ) -> Result<String, PushError> {
        let form = reqwest::multipart::Form::new().text("action", action).text("request", request);
        let mut req = self
            .http
            .post(&self.endpoint)
            .timeout(self.timeout)
            .basic_auth(&self.user, Some(&self.secret))
            .header("X-AlpineBits-ClientProtocolVersion", "2020-10");
        if let Some(stamp) = stamp {
            req = req.header(saluran_channels::signature::TIMESTAMP_HEADER, stamp.to_string());
        }
        self.read(req.multipart(form).send().await, cap).await
    }
}

#[async_trait]
impl BookingPuller for AlpineBits {
    async fn pull(&self) -> Result<Vec<InboundBooking>, PushError> {
        use saluran_channels::alpinebits;
        let t = &self.0;
        let body = t.alpinebits(alpinebits::ACTION_READ_GUEST_REQUESTS, alpinebits::read_rq(&t.hotel_code), None, t.feed_cap).await?;
        let got = alpinebits::parse_res_retrieve_rs(body.as_bytes(), &feed_limits(t.feed_cap))
            .map_err(|e| PushError::Rejected(answer_reason(&e)))?;
        report_unreadable("OTA_ResRetrieveRS", &got.invalid);
        Ok(got.bookings)
    }

    async fn acknowledge(&self, committed: &[InboundBooking]) -> Result<(), PushError> {
        use saluran_channels::alpinebits::{self, NotifAck};
        use saluran_channels::model::BookingAction;
        let t = &self.0;
        let acks: Vec<NotifAck> = committed
            .iter()
            .map(|b| NotifAck { ota_id: b.ota_reservation_id.clone(), cancellation: b.action == BookingAction::Cancel, refused: None })
            .collect();
        let body =
            t.alpinebits(alpinebits::ACTION_NOTIF_REPORT_GUEST_REQUESTS, alpinebits::notif_report_rq(&acks), None, t.answer_cap).await?;
        alpinebits::parse_notif_report_rs(body.as_bytes(), &saluran_channels::Limits::default())
            .map_err(|e| PushError::Rejected(answer_reason(&e)))
    }
}

#[async_trait]
impl BookingPuller for JsonRest {
    async fn pull(&self) -> Result<Vec<InboundBooking>, PushError> {
        use saluran_channels::jsonrest;
        let t = &self.0;
        let r = t
            .http
            .get(format!("{}{}", t.endpoint, jsonrest::revisions_feed_path(&t.hotel_code)))
            .timeout(t.timeout)
            .header("X-Api-Key", &t.secret)
            .send()
            .await;
        let body = t.read(r, t.feed_cap).await?;
        let feed = jsonrest::parse_revisions_feed(body.as_bytes(), &feed_limits(t.feed_cap))
            .map_err(|e| PushError::Rejected(answer_reason(&e)))?;
        report_unreadable("booking revisions feed", &feed.invalid);
        Ok(feed.revisions)
    }

    async fn acknowledge(&self, committed: &[InboundBooking]) -> Result<(), PushError> {
        use saluran_channels::jsonrest;
        let t = &self.0;
        for b in committed {
            let r = t
                .http
                .post(format!("{}{}", t.endpoint, jsonrest::revision_ack_path(&b.revision)))
                .timeout(t.timeout)
                .header("X-Api-Key", &t.secret)
                .send()
                .await;
            t.read(r, t.answer_cap).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saluran_actors::channel::OtaMessage;

    #[test]
    fn opentravel_rates_carry_the_property_currency() {
        let target = HttpTarget {
            http: reqwest::Client::new(),
            timeout: Duration::from_secs(1),
            endpoint: "http://127.0.0.1:9".into(),
            hotel_code: "H1".into(),
            user: "u".into(),
            secret: "s".into(),
            answer_cap: ARI_ANSWER_CAP,
            feed_cap: FEED_ANSWER_CAP,
            property: "P".into(),
            channel: "C".into(),
        };
        let ot = OpenTravel { target, currency: "USD".into(), min_stay_through: true };
        let day = jiff::civil::date(2027, 1, 1);
        let range = AriRange {
            ota_room: "R".into(),
            ota_rate: Some("BAR".into()),
            start: day,
            end: day,
            values: AriValues { rate: Some(rust_decimal::Decimal::from(120)), ..AriValues::default() },
        };
        let (path, body) = ot.message(&OtaMessage { kind: "rate", ranges: vec![range] }, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(path, "OTA_HotelRateAmountNotif");
        assert!(body.contains(r#"CurrencyCode="USD""#), "{body}");
        assert!(!body.contains("IDR"));
    }

    #[test]
    fn alpinebits_plans_one_free_room_range_per_room_whatever_the_rate_mappings() {
        let target = HttpTarget {
            http: reqwest::Client::new(),
            timeout: Duration::from_secs(1),
            endpoint: "http://127.0.0.1:9".into(),
            hotel_code: "H1".into(),
            user: "u".into(),
            secret: "s".into(),
            answer_cap: ARI_ANSWER_CAP,
            feed_cap: FEED_ANSWER_CAP,
            property: "P".into(),
            channel: "C".into(),
        };
        let d = |n: i8| jiff::civil::date(2027, 1, n);
        let range = |rate: &str, start, end, price: i64| AriRange {
            ota_room: "DBL".into(),
            ota_rate: Some(rate.into()),
            start,
            end,
            values: AriValues { available: Some(3), rate: Some(rust_decimal::Decimal::from(price)), ..AriValues::default() },
        };
        // Two rate mappings of one room; prices change on the 3rd, availability never.
        let ranges =
            vec![range("BAR", d(1), d(2), 100), range("BAR", d(3), d(5), 120), range("NRF", d(1), d(2), 90), range("NRF", d(3), d(5), 108)];
        let plan = AlpineBits(target).plan(&ranges, 1000);
        assert_eq!(plan.len(), 1);
        let r = &plan[0].ranges;
        assert_eq!(r.len(), 1, "no overlapping periods for one room: {r:?}");
        assert_eq!((r[0].start, r[0].end, r[0].ota_rate.as_deref(), r[0].values.available), (d(1), d(5), None, Some(3)));
    }

    /// Every field set, and different on every date: one range per date.
    fn every_field_ranges(days: usize) -> Vec<AriRange> {
        let start = jiff::civil::date(2030, 1, 1);
        (0..days)
            .map(|i| {
                let day = start.checked_add(jiff::Span::new().days(i as i64)).unwrap();
                let n = i as u16;
                AriRange {
                    ota_room: "R".into(),
                    ota_rate: Some("BAR".into()),
                    start: day,
                    end: day,
                    values: AriValues {
                        available: Some(i as u32 % 7),
                        rate: Some(rust_decimal::Decimal::from(100 + i)),
                        occupancy_rates: vec![(2, rust_decimal::Decimal::from(120 + i))],
                        min_stay: Some(1 + n % 5),
                        min_stay_through: Some(1 + n % 3),
                        max_stay: Some(n % 4 * 5),
                        closed_to_arrival: Some(i % 2 == 0),
                        closed_to_departure: Some(i % 3 == 0),
                        stop_sell: Some(i % 5 == 0),
                    },
                }
            })
            .collect()
    }

    /// Issue 8 follow-up: the preset limit counts `AvailStatusMessage` /
    /// `RateAmountMessage` elements (each with its own
    /// StatusApplicationControl), and one range writes up to four of them.
    /// 1500 ranges with every field set: no message over the limit, nothing lost.
    #[test]
    fn opentravel_messages_stay_within_the_limit_in_elements() {
        use saluran_channels::opentravel;
        let limits = saluran_channels::Limits { max_bytes: 64 << 20, ..saluran_channels::Limits::default() };
        let ranges = every_field_ranges(1500);
        for through in [true, false] {
            let target = sim_target("http://127.0.0.1:9".into(), "p", Duration::from_secs(1));
            let ot = OpenTravel { target, currency: "IDR".into(), min_stay_through: through };
            let plan = ot.plan(&ranges, 1000);
            let (mut avail_ranges, mut rate_ranges) = (0, 0);
            for m in &plan {
                let (_, body) = ot.message(m, jiff::Timestamp::UNIX_EPOCH);
                let notif = if m.kind == "rate" {
                    rate_ranges += m.ranges.len();
                    opentravel::parse_rate_amount_notif(body.as_bytes(), &limits).unwrap()
                } else {
                    avail_ranges += m.ranges.len();
                    opentravel::parse_avail_notif(body.as_bytes(), &limits).unwrap()
                };
                // One StatusApplicationControl per AvailStatusMessage / RateAmountMessage.
                let elements = body.matches("<StatusApplicationControl").count();
                eprintln!("measured: through={through} {} message: {} ranges, {elements} elements", m.kind, m.ranges.len());
                assert!(elements <= 1000, "{} message with {elements} elements", m.kind);
                assert_eq!(notif.messages, elements);
                assert_eq!(body.contains("ArrivalDateBased"), through && m.kind == "avail", "through = {through}");
            }
            assert_eq!((avail_ranges, rate_ranges), (1500, 1500), "every range planned once");
            // The fewest messages the limit allows: 4 elements per range with
            // through (1500 × 4 / 1000 → 6), 3 without (→ 5), plus 2 for rates.
            let avail_messages = plan.iter().filter(|m| m.kind == "avail").count();
            eprintln!("measured: through={through}: {} messages for 1500 ranges ({avail_messages} availability)", plan.len());
            assert_eq!(avail_messages, if through { 6 } else { 5 });
        }
    }

    fn sim_target(endpoint: String, password: &str, timeout: Duration) -> HttpTarget {
        HttpTarget {
            http: reqwest::Client::new(),
            timeout,
            endpoint,
            hotel_code: "H1".into(),
            user: "hub".into(),
            secret: password.into(),
            answer_cap: ARI_ANSWER_CAP,
            feed_cap: FEED_ANSWER_CAP,
            property: "P".into(),
            channel: "C".into(),
        }
    }

    fn one_range() -> Vec<AriRange> {
        let day = jiff::civil::date(2030, 1, 1);
        vec![AriRange {
            ota_room: "R".into(),
            ota_rate: Some("BAR".into()),
            start: day,
            end: day,
            values: AriValues { available: Some(3), ..AriValues::default() },
        }]
    }

    /// Issue 8 item 9: a 64 MiB answer to an ARI push is a transient failure
    /// (retried like a 5xx) with a short reason, and the hub stops reading at
    /// the cap: the simulator streamed only what the hub pulled.
    #[tokio::test]
    async fn an_oversized_ari_answer_is_a_transient_failure_read_only_up_to_the_cap() {
        use saluran_sim::{FaultConfig, FaultKind, Profile, Sim, SimConfig};
        let sim = Sim::start(SimConfig::new(Profile::Opentravel, "H1", "hub", "ota-pass")).await.unwrap();
        let size: u64 = 64 << 20;
        sim.set_faults(FaultConfig { oversized_bytes: size, ..FaultConfig::always(FaultKind::Oversized) }).unwrap();
        let ot = OpenTravel {
            target: sim_target(sim.base_url(), "ota-pass", Duration::from_secs(10)),
            currency: "IDR".into(),
            min_stay_through: true,
        };
        let message = OtaMessage { kind: "avail", ranges: one_range() };
        let err = ot.send(&message, jiff::Timestamp::now()).await.expect_err("an oversized answer is no success");
        match &err {
            PushError::Transient(reason) => {
                assert!(reason.contains(&format!("larger than {ARI_ANSWER_CAP} bytes")), "{reason}");
                assert!(reason.len() < 100, "short reason: {reason}");
            }
            other => panic!("expected a transient failure, got {other:?}"),
        }
        // What the hub pulled: the cap plus what the loopback socket buffers
        // hold, far below the whole answer.
        let sent = sim.stats().oversized_bytes_sent;
        assert!(sent < 16 << 20, "the hub read {sent} of {size} bytes");
        sim.stop().await;
    }

    /// A pulled feed gets the larger feed cap, and an answer over it fails the
    /// pull the same way.
    #[tokio::test]
    async fn an_oversized_booking_feed_fails_the_pull_at_the_feed_cap() {
        use saluran_sim::{FaultConfig, FaultKind, Profile, Sim, SimConfig};
        let sim = Sim::start(SimConfig::new(Profile::Jsonrest, "H1", "hub", "ota-key")).await.unwrap();
        let size: u64 = 256 << 20;
        sim.set_faults(FaultConfig { oversized_bytes: size, ..FaultConfig::always(FaultKind::Oversized) }).unwrap();
        let jr = JsonRest(sim_target(format!("{}/api", sim.base_url()), "ota-key", Duration::from_secs(10)), true);
        let err = jr.pull().await.expect_err("an oversized feed is no success");
        assert!(matches!(&err, PushError::Transient(r) if r.contains(&format!("larger than {FEED_ANSWER_CAP} bytes"))), "{err:?}");
        let sent = sim.stats().oversized_bytes_sent;
        assert!(sent >= FEED_ANSWER_CAP as u64 && sent < (FEED_ANSWER_CAP as u64) + (16 << 20), "the hub read {sent} of {size} bytes");
        sim.stop().await;
    }

    /// A local server that answers every request with `head` and then streams
    /// filler until the client stops reading; returns its URL and how many
    /// filler bytes the client took.
    async fn refusing_server(head: &'static str) -> (String, Arc<std::sync::atomic::AtomicU64>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = sock.read(&mut buf).await;
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let filler = vec![b'x'; 64 * 1024];
                    for _ in 0..4096 {
                        if sock.write_all(&filler).await.is_err() {
                            return;
                        }
                        counter.fetch_add(filler.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        (url, sent)
    }

    /// Issue 8 follow-up: a refusal (4xx) is a refusal whatever its size: not
    /// retried as a transient failure, and its body is not read.
    #[tokio::test]
    async fn an_oversized_refusal_is_rejected_without_reading_its_body() {
        for head in [
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 268435456\r\nContent-Type: application/xml\r\n\r\n",
            "HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n",
        ] {
            let (url, sent) = refusing_server(head).await;
            let ot = OpenTravel { target: sim_target(url, "p", Duration::from_secs(10)), currency: "IDR".into(), min_stay_through: true };
            let err = ot.send(&OtaMessage { kind: "avail", ranges: one_range() }, jiff::Timestamp::now()).await.expect_err("refused");
            let code = &head[9..12];
            assert_eq!(err, PushError::Rejected(format!("HTTP {code}")), "{head}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let took = sent.load(std::sync::atomic::Ordering::Relaxed);
            eprintln!("measured: HTTP {code} refusal, {took} filler bytes written before the hub closed");
            assert!(took < 8 << 20, "the hub read {took} bytes of a refusal");
        }
    }

    /// The feed cap is the preset's `max_feed_bytes`: a feed over it fails the
    /// pull; the same feed under the default cap is read.
    #[tokio::test]
    async fn the_feed_cap_is_the_preset_value() {
        use saluran_sim::{BookingSpec, Profile, Sim, SimConfig};
        let sim = Sim::start(SimConfig::new(Profile::Jsonrest, "H1", "hub", "ota-key")).await.unwrap();
        sim.create_bookings(&BookingSpec { count: 3, ..BookingSpec::new("R", "BAR", jiff::civil::date(2030, 1, 1), 1) }).unwrap();
        let mut small = sim_target(format!("{}/api", sim.base_url()), "ota-key", Duration::from_secs(10));
        small.feed_cap = 256;
        let err = JsonRest(small, true).pull().await.expect_err("a feed over max_feed_bytes");
        assert!(matches!(&err, PushError::Transient(r) if r.contains("larger than 256 bytes")), "{err:?}");
        let preset: crate::presets::Preset = toml::from_str(
            "name = \"x\"\ndisplay_name = \"x\"\nprofile = \"jsonrest\"\nauth = \"basic\"\nrequests_per_minute = 1\n\
             account_requests_per_minute = 1\nmax_updates_per_request = 1\nhorizon_days = 1\npoll_interval_secs = 1\n\
             timeout_secs = 1\nmax_tries = 1\ndebounce_ms = 1\nmax_feed_bytes = 256\nmax_answer_bytes = 128\n",
        )
        .unwrap();
        assert_eq!((preset.max_feed_bytes, preset.max_answer_bytes), (256, 128));
        let default = sim_target(format!("{}/api", sim.base_url()), "ota-key", Duration::from_secs(10));
        assert_eq!(default.feed_cap, crate::presets::DEFAULT_MAX_FEED_BYTES);
        assert_eq!(JsonRest(default, true).pull().await.expect("the feed under the default cap").len(), 3);
        sim.stop().await;
    }

    /// Every OTA call has a time limit, pulls included (the push pipeline had
    /// its own; a pull that never answered held the poller for good).
    #[tokio::test]
    async fn a_pull_that_never_answers_fails_within_the_call_time_limit() {
        use saluran_sim::{FaultConfig, FaultKind, Profile, Sim, SimConfig};
        let sim = Sim::start(SimConfig::new(Profile::Alpinebits, "H1", "hub", "ota-pass")).await.unwrap();
        sim.set_faults(FaultConfig { timeout_ms: 30_000, ..FaultConfig::always(FaultKind::Timeout) }).unwrap();
        let ab = AlpineBits(sim_target(format!("{}/alpinebits", sim.base_url()), "ota-pass", Duration::from_millis(300)));
        let started = std::time::Instant::now();
        let err =
            tokio::time::timeout(Duration::from_secs(10), ab.pull()).await.expect("the call's own limit ends it").expect_err("no answer");
        assert!(matches!(err, PushError::Transient(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        sim.stop().await;
    }
}
