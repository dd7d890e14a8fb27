//! Getting bookings to the hub the way each OTA does:
//! - opentravel pushes every revision to the hub's webhook and redelivers it with
//!   backoff until the hub answers 2xx with the matching acknowledgement RS;
//! - alpinebits queues them for the hub's `OTA_Read`, acknowledged by `OTA_NotifReport`;
//! - jsonrest queues revisions in a feed acknowledged one by one, and (when a hub
//!   webhook is set) sends a small signed notify so the hub polls at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::bookings::{revision_id, split_revision_id};
use crate::codec;
use crate::{HubWebhook, Profile, Shared};

/// What one push attempt ended with.
enum Outcome {
    Acked { status: String, confirmation: Option<String> },
    Failed { status: String, error: String },
}

/// Starts delivering a revision: `copies` concurrent pushes for push profiles (for
/// duplicate tests), a notify for jsonrest with a webhook, nothing for pull queues.
/// `force` delivers even when the revision was already acknowledged.
pub(crate) fn schedule(sh: &Arc<Shared>, booking: &str, number: u32, copies: u32, force: bool) {
    let Some(hook) = sh.cfg.hub_webhook.clone() else { return };
    match sh.cfg.profile {
        Profile::Opentravel => {
            for _ in 0..copies.max(1) {
                let sh2 = sh.clone();
                let booking = booking.to_string();
                let hook = hook.clone();
                sh.tasks.spawn(async move { push_loop(sh2, booking, number, force, hook).await });
            }
        }
        Profile::Jsonrest => {
            for _ in 0..copies.max(1) {
                let sh2 = sh.clone();
                let booking = booking.to_string();
                let url = hook.url.clone();
                let secret = hook.secret.clone();
                sh.tasks.spawn(async move { notify_loop(sh2, booking, number, url, secret).await });
            }
        }
        Profile::Alpinebits => {}
    }
}

/// Sleeps unless the simulator stops; false when it stops.
async fn pause(sh: &Shared, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = sh.shutdown.cancelled() => false,
    }
}

async fn push_loop(sh: Arc<Shared>, booking: String, number: u32, force: bool, hook: HubWebhook) {
    let policy = sh.cfg.redelivery;
    let started = Instant::now();
    let mut delay = policy.initial;
    for _ in 0..policy.max_attempts.max(1) {
        if sh.shutdown.is_cancelled() {
            return;
        }
        let (body, sent) = {
            let store = sh.bookings.lock();
            let Some(rev) = store.revision(&booking, number) else { return };
            // A forced redelivery goes on until this copy is acknowledged; an ordinary
            // one stops as soon as any copy was.
            if rev.delivery.acked && !force {
                return;
            }
            (codec::ot_booking_message(&sh.cfg.hotel_code, &booking, rev), rev.action)
        };
        {
            let mut store = sh.bookings.lock();
            if let Some(rev) = store.revision_mut(&booking, number) {
                rev.delivery.attempts += 1;
            }
            sh.stats.lock().pushes_sent += 1;
        }
        let outcome = push_once(&sh, &hook, body, &booking, sent).await;
        let now = Timestamp::now();
        match outcome {
            Outcome::Acked { status, confirmation } => {
                sh.bookings.lock().ack(&booking, number, confirmation, &status, now);
                return;
            }
            Outcome::Failed { status, error } => {
                tracing::debug!(%booking, number, %status, %error, "booking push not acknowledged");
                let mut store = sh.bookings.lock();
                if let Some(rev) = store.revision_mut(&booking, number) {
                    rev.delivery.last_status = Some(status);
                    rev.delivery.last_error = Some(error);
                }
            }
        }
        if started.elapsed() + delay > policy.max_elapsed {
            break;
        }
        if !pause(&sh, delay).await {
            return;
        }
        delay = (delay * 2).min(policy.max);
    }
    let mut store = sh.bookings.lock();
    if let Some(rev) = store.revision_mut(&booking, number) {
        if !rev.delivery.acked {
            rev.delivery.gave_up = true;
        }
    }
}

async fn push_once(sh: &Shared, hook: &HubWebhook, body: String, booking: &str, sent: crate::bookings::Action) -> Outcome {
    let req = sh
        .http
        .post(&hook.url)
        .basic_auth(&hook.username, Some(&hook.secret))
        .header(reqwest::header::CONTENT_TYPE, "application/xml; charset=utf-8")
        .timeout(sh.cfg.push_timeout)
        .body(body);
    let resp = tokio::select! {
        r = req.send() => r,
        _ = sh.shutdown.cancelled() => return Outcome::Failed { status: "stopped".into(), error: "simulator stopping".into() },
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            let status = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect error"
            } else {
                "transport error"
            };
            return Outcome::Failed { status: status.into(), error: e.to_string() };
        }
    };
    let status = resp.status();
    let text = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Outcome::Failed { status: status.as_u16().to_string(), error: format!("reading the response: {e}") },
    };
    if !status.is_success() {
        let snippet: String = String::from_utf8_lossy(&text).chars().take(200).collect();
        return Outcome::Failed { status: status.as_u16().to_string(), error: snippet };
    }
    match codec::ot_parse_ack(&text, booking, sent, &sh.limits) {
        Ok(confirmation) => Outcome::Acked { status: status.as_u16().to_string(), confirmation: Some(confirmation) },
        Err(e) => Outcome::Failed { status: format!("{} bad ack", status.as_u16()), error: e },
    }
}

async fn notify_loop(sh: Arc<Shared>, booking: String, number: u32, url: String, secret: String) {
    let policy = sh.cfg.redelivery;
    let started = Instant::now();
    let mut delay = policy.initial;
    let rev_id = revision_id(&booking, number);
    for _ in 0..policy.max_attempts.max(1) {
        if sh.shutdown.is_cancelled() {
            return;
        }
        let (body, headers) = codec::jr_notify(&sh.cfg.hotel_code, &booking, &rev_id, &secret, Timestamp::now().as_second());
        {
            let mut store = sh.bookings.lock();
            if let Some(rev) = store.revision_mut(&booking, number) {
                rev.notify_attempts += 1;
            }
            sh.stats.lock().pushes_sent += 1;
        }
        let mut req = sh.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let (ok, status) = tokio::select! {
            r = req.send() => match r {
                Ok(resp) => {
                    let s = resp.status();
                    let _ = resp.bytes().await;
                    (s.is_success(), s.as_u16().to_string())
                }
                Err(e) => (false, if e.is_timeout() { "timeout".to_string() } else { "transport error".to_string() }),
            },
            _ = sh.shutdown.cancelled() => return,
        };
        {
            let mut store = sh.bookings.lock();
            if let Some(rev) = store.revision_mut(&booking, number) {
                rev.notify_status = Some(status);
            }
        }
        if ok || started.elapsed() + delay > policy.max_elapsed {
            return;
        }
        if !pause(&sh, delay).await {
            return;
        }
        delay = (delay * 2).min(policy.max);
    }
}

/// AlpineBits `OTA_Read`: every booking with an unacknowledged revision, at its
/// latest revision. Remembers which revision was handed out so `OTA_NotifReport`
/// acknowledges up to it.
pub(crate) fn pull_alpinebits(sh: &Shared) -> String {
    let mut store = sh.bookings.lock();
    let mut pulled = sh.pulled.lock();
    let mut out = Vec::new();
    for b in store.all_mut() {
        if !b.pending() {
            continue;
        }
        let Some(latest) = b.revisions.last() else { continue };
        pulled.insert(b.id.clone(), latest.number);
        for r in b.revisions.iter_mut().filter(|r| !r.delivery.acked) {
            r.delivery.attempts += 1;
            r.delivery.last_status = Some("pulled".into());
        }
        if let Some(latest) = b.revisions.last() {
            out.push((b.id.clone(), latest.clone()));
        }
    }
    codec::ab_res_retrieve_rs(&sh.cfg.hotel_code, &out)
}

/// AlpineBits `OTA_NotifReport`: acknowledges the bookings named, up to the
/// revision last handed out by `OTA_Read` (all of them if never pulled).
pub(crate) fn ack_alpinebits(sh: &Shared, acks: &[codec::NotifAck]) {
    let now = Timestamp::now();
    let mut store = sh.bookings.lock();
    let pulled = sh.pulled.lock();
    for a in acks {
        let Some(b) = store.get(&a.reservation_id) else {
            tracing::warn!(id = %a.reservation_id, "OTA_NotifReport for an unknown booking");
            continue;
        };
        let upto = pulled.get(&a.reservation_id).copied().unwrap_or(b.revisions.len() as u32);
        let status = if a.refused.is_some() { "refused" } else { "notif report" };
        for n in 1..=upto {
            store.ack(&a.reservation_id, n, a.confirmation_id.clone(), status, now);
            if let (Some(reason), Some(rev)) = (&a.refused, store.revision_mut(&a.reservation_id, n)) {
                rev.delivery.refused = Some(reason.chars().take(200).collect());
            }
        }
    }
}

/// jsonrest feed: every unacknowledged revision, oldest first.
pub(crate) fn pull_jsonrest(sh: &Shared) -> serde_json::Value {
    let mut store = sh.bookings.lock();
    let mut out = Vec::new();
    for b in store.all_mut() {
        for r in b.revisions.iter_mut().filter(|r| !r.delivery.acked) {
            r.delivery.attempts += 1;
            r.delivery.last_status = Some("pulled".into());
            out.push((b.id.clone(), r.clone()));
        }
    }
    codec::jr_feed(&sh.cfg.hotel_code, &out)
}

/// jsonrest `POST /api/booking_revisions/{id}/ack`.
pub(crate) fn ack_jsonrest(sh: &Shared, id: &str, confirmation: Option<String>) -> bool {
    let Some((booking, number)) = split_revision_id(id) else { return false };
    sh.bookings.lock().ack(booking, number, confirmation, "ack", Timestamp::now())
}
