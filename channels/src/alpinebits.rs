//! `alpinebits` profile (AlpineBits HotelData 2020-10).
//!
//! Transport (done elsewhere): HTTP POST, `multipart/form-data` with the fields
//! [`FORM_ACTION`] (one of the `ACTION_*` constants) and [`FORM_REQUEST`] (the XML),
//! HTTP Basic auth, and the [`CLIENT_PROTOCOL_VERSION_HEADER`] header set to
//! [`PROTOCOL_VERSION`] (plus [`CLIENT_ID_HEADER`] when configured).
//!
//! Everything written validates against the AlpineBits 2020-10 schema. Both sides are
//! here: the hub (client) writes [`ping_rq`], [`freerooms_rq`], [`read_rq`],
//! [`notif_report_rq`] and reads the answers; the simulator (server) reads the requests
//! and writes [`ping_rs`], [`freerooms_rs_success`], [`res_retrieve_rs`], ….
//!
//! ## FreeRooms (`OTA_HotelInvCountNotifRQ`)
//!
//! One `Inventory` per [`AriRange`] (its `ota_rate` is ignored: availability is per room
//! category), `StatusApplicationControl Start End InvTypeCode` (`End` inclusive) and
//! `InvCounts/InvCount CountType="2" Count=available` (bookable rooms; a stop-sell is
//! sent as 0). A complete set starts with `UniqueID Type="16" ID="1" Instance="CompleteSet"`;
//! an empty complete set is the "reset" message (one empty `Inventory`).
//!
//! **What this profile carries** ([`CARRIES`]): availability only, with a stop-sell
//! folded into it (count 0; lifting the stop-sell sends the real count again, so a
//! clear is explicit). FreeRooms has no element for rates or restrictions, and the
//! RatePlans action (which would carry them) is not implemented: rates, minimum and
//! maximum stays, CTA and CTD are **not sent** over AlpineBits and stay as the
//! property keeps them in the OTA's own extranet.
//!
//! [`parse_freerooms`] applies AlpineBits' rules beyond the schema (those of the
//! official validation corpus): `HotelCode` or `HotelName` is required; a single empty
//! `Inventory` (reset) needs `CompleteSet`; otherwise every `Inventory` needs a
//! `StatusApplicationControl` with `Start`, `End` (not before `Start`) and `InvTypeCode`;
//! room categories and distinct rooms (`InvCode`) are not mixed; closing seasons
//! (`AllInvCode="true"`) exist only in complete sets, come before every other
//! `Inventory`, carry no `InvCounts` and do not overlap each other; `InvCounts` holds one
//! to three `InvCount` of distinct `CountType` 2, 6 or 9. An `Inventory` without
//! `InvCounts` (or without `CountType="2"`) means no bookable room. Stricter than the
//! reference validator, periods of one room/category must not overlap either.
//!
//! ## GuestRequests (pull)
//!
//! [`read_rq`] asks for new requests; [`parse_res_retrieve_rs`] reads reservations
//! (`ResStatus="Reserved"` → new, `"Modify"` → modify, `"Cancelled"` or `UniqueID
//! Type="15"` → cancel) with the same rules as [`crate::opentravel`] (a `GuestCount`
//! without `Age` counts as adults); quote requests (`"Requested"`) are returned apart,
//! as inquiries, because they are not bookings; a reservation that cannot be read is
//! returned apart too, with its error, so that one bad entry never hides the others.
//! **Revision** = `HotelReservation@LastModifyDateTime` where the message has it (OTA
//! 2015A feeds and later AlpineBits versions do; 2020-10 has only `CreateDateTime`),
//! else `HotelReservation@CreateDateTime`, else the root `TimeStamp`, else a content
//! digest. Timestamps are **parsed** (xs:dateTime; any offset, fractional seconds) and
//! one with an offset is written as the UTC instant (`2025-06-01T01:29:59.5Z`); one
//! without an offset is kept as given (a wall-clock time at the hotel: the booking's
//! decision reads it in the property's time zone, see
//! `saluran_domain::channel::revision_order`), so revisions compare as instants, not as text: a
//! modification that keeps the original `CreateDateTime` but has a later
//! `LastModifyDateTime` is newer. A timestamp that does not parse makes that
//! reservation unreadable (returned apart with its error), never a panic. AlpineBits carries no
//! per-night prices (`nightly` is empty) and no booking total (it is the sum of the
//! room totals when every room has one).
//!
//! [`notif_report_rq`] acknowledges what was committed: `UniqueID Type="14"` for
//! reservations and inquiries, `Type="15"` for cancellations; refusals go as
//! `Warning Type="3" Code="450" RecordID=…`. The schema has no element for our own
//! confirmation id, so none is sent.

use crate::error::{excerpt, CodecError};
use crate::model::{check_len, AriField, AriRange, AriValues, BookingAction, InboundBooking, MAX_ID_CHARS, MAX_TOKEN_CHARS};
use crate::opentravel::{collect_errors, is_xs_datetime, ota_error_code, read_reservation, split_name};
use crate::xml::{self, fmt_amount, parse_bool, parse_date, parse_uint, Element, Limits, XmlWriter};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// The ARI values this profile carries: FreeRooms availability, with the stop-sell
/// sent as 0 available (see the module docs for what is not carried).
pub const CARRIES: &[AriField] = &[AriField::Availability, AriField::StopSell];

/// The AlpineBits version spoken.
pub const PROTOCOL_VERSION: &str = "2020-10";
/// Request header carrying [`PROTOCOL_VERSION`].
pub const CLIENT_PROTOCOL_VERSION_HEADER: &str = "X-AlpineBits-ClientProtocolVersion";
/// Request header carrying the client id (optional).
pub const CLIENT_ID_HEADER: &str = "X-AlpineBits-ClientID";
/// Multipart form field naming the action.
pub const FORM_ACTION: &str = "action";
/// Multipart form field carrying the XML request.
pub const FORM_REQUEST: &str = "request";

pub const ACTION_PING: &str = "OTA_Ping:Handshaking";
pub const ACTION_FREEROOMS: &str = "OTA_HotelInvCountNotif:FreeRooms";
pub const ACTION_READ_GUEST_REQUESTS: &str = "OTA_Read:GuestRequests";
pub const ACTION_NOTIF_REPORT_GUEST_REQUESTS: &str = "OTA_NotifReport:GuestRequests";

/// Capability names exchanged in the handshake.
pub mod capability {
    pub const PING: &str = "action_OTA_Ping";
    pub const FREEROOMS: &str = "action_OTA_HotelInvCountNotif";
    pub const FREEROOMS_ROOMS: &str = "OTA_HotelInvCountNotif_accept_rooms";
    pub const FREEROOMS_CATEGORIES: &str = "OTA_HotelInvCountNotif_accept_categories";
    pub const FREEROOMS_DELTAS: &str = "OTA_HotelInvCountNotif_accept_deltas";
    pub const FREEROOMS_OUT_OF_ORDER: &str = "OTA_HotelInvCountNotif_accept_out_of_order";
    pub const FREEROOMS_OUT_OF_MARKET: &str = "OTA_HotelInvCountNotif_accept_out_of_market";
    pub const FREEROOMS_CLOSING_SEASONS: &str = "OTA_HotelInvCountNotif_accept_closing_seasons";
    pub const GUEST_REQUESTS_READ: &str = "action_OTA_Read";
}

const PING_VERSION: &str = "8.000";
const FREEROOMS_VERSION: &str = "4";
const READ_VERSION: &str = "1.001";
const RETRIEVE_VERSION: &str = "7.000";
const NOTIF_REPORT_VERSION: &str = "1.000";

const INV_COUNT_NOTIF_RQ: &str = "OTA_HotelInvCountNotifRQ";
const INV_COUNT_NOTIF_RS: &str = "OTA_HotelInvCountNotifRS";

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

/// The handshake JSON carried in `EchoData` / the `ALPINEBITS_HANDSHAKE` warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Handshake {
    pub versions: Vec<HandshakeVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeVersion {
    pub version: String,
    #[serde(default)]
    pub actions: Vec<HandshakeAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeAction {
    pub action: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supports: Vec<String>,
}

impl Handshake {
    /// What the hub announces: 2020-10 with Ping, FreeRooms (categories, deltas) and GuestRequests pull.
    pub fn client_default() -> Self {
        let action = |a: &str, s: &[&str]| HandshakeAction { action: a.to_owned(), supports: s.iter().map(|x| (*x).to_owned()).collect() };
        Handshake {
            versions: vec![HandshakeVersion {
                version: PROTOCOL_VERSION.to_owned(),
                actions: vec![
                    action(capability::PING, &[]),
                    action(capability::FREEROOMS, &[capability::FREEROOMS_CATEGORIES, capability::FREEROOMS_DELTAS]),
                    action(capability::GUEST_REQUESTS_READ, &[]),
                ],
            }],
        }
    }

    /// Reads handshake JSON.
    pub fn parse(json: &str) -> Result<Self, CodecError> {
        serde_json::from_str(json.trim()).map_err(|e| CodecError::JsonMalformed(excerpt(&e.to_string())))
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Whether `action` is announced for `version`.
    pub fn has_action(&self, version: &str, action: &str) -> bool {
        self.action(version, action).is_some()
    }

    /// Whether `action` is announced for `version` with `capability`.
    pub fn supports(&self, version: &str, action: &str, capability: &str) -> bool {
        self.action(version, action).is_some_and(|a| a.supports.iter().any(|s| s == capability))
    }

    fn action(&self, version: &str, action: &str) -> Option<&HandshakeAction> {
        self.versions.iter().filter(|v| v.version == version).flat_map(|v| v.actions.iter()).find(|a| a.action == action)
    }
}

/// `OTA_PingRQ` carrying `echo_data` (normally [`Handshake::to_json`]).
pub fn ping_rq(echo_data: &str) -> String {
    let data = if echo_data.trim().is_empty() { "{}" } else { echo_data };
    let mut w = XmlWriter::new();
    w.root("OTA_PingRQ", &[("Version", Some(PING_VERSION))]);
    w.text_element("EchoData", &[], data);
    w.finish()
}

/// Reads an `OTA_PingRQ` (simulator side): its `EchoData`.
pub fn parse_ping_rq(body: &[u8], limits: &Limits) -> Result<String, CodecError> {
    let root = xml::parse_root(body, limits, &["OTA_PingRQ"])?;
    let data = root.req_child("EchoData")?.text();
    if data.is_empty() {
        return Err(CodecError::missing("OTA_PingRQ/EchoData"));
    }
    Ok(data.to_owned())
}

/// `OTA_PingRS` (simulator side): echoes `echo_data` and states the intersection of
/// capabilities (`handshake`) in the `ALPINEBITS_HANDSHAKE` warning.
pub fn ping_rs(echo_data: &str, handshake: &str) -> String {
    let data = if echo_data.trim().is_empty() { "{}" } else { echo_data };
    let mut w = XmlWriter::new();
    w.root("OTA_PingRS", &[("Version", Some(PING_VERSION))]);
    w.empty("Success", &[]);
    w.open("Warnings", &[]);
    w.text_element("Warning", &[("Type", Some("11")), ("Status", Some("ALPINEBITS_HANDSHAKE"))], handshake);
    w.close();
    w.text_element("EchoData", &[], data);
    w.finish()
}

/// The answer to a ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingRs {
    pub echo_data: String,
    /// The server's intersection of capabilities (the `ALPINEBITS_HANDSHAKE` warning), when given.
    pub handshake: Option<String>,
}

/// Reads an `OTA_PingRS`; `Errors` become [`CodecError::RemoteErrors`].
pub fn parse_ping_rs(body: &[u8], limits: &Limits) -> Result<PingRs, CodecError> {
    let root = xml::parse_root(body, limits, &["OTA_PingRS"])?;
    if root.child("Success").is_none() {
        return Err(CodecError::RemoteErrors(collect_errors(&root)));
    }
    let handshake = root
        .all_at(&["Warnings", "Warning"])
        .into_iter()
        .find(|w| w.attr("Status") == Some("ALPINEBITS_HANDSHAKE"))
        .map(|w| w.text().to_owned());
    Ok(PingRs { echo_data: root.req_child("EchoData")?.text().to_owned(), handshake })
}

// ---------------------------------------------------------------------------
// FreeRooms
// ---------------------------------------------------------------------------

/// The bookable count a range sends: 0 under a stop-sell, else `available`.
fn free_count(v: &AriValues) -> Option<u32> {
    if v.stop_sell == Some(true) {
        Some(0)
    } else {
        v.available
    }
}

/// `OTA_HotelInvCountNotifRQ` (FreeRooms) for the availability of `ranges`.
///
/// Ranges without a count (no `available`, no stop-sell) are skipped. Returns `None`
/// when there is nothing to send: a delta without any count (an empty complete set is
/// the valid "reset" message and is returned).
pub fn freerooms_rq(hotel_code: &str, ranges: &[AriRange], complete_set: bool) -> Option<String> {
    let counted: Vec<(&AriRange, u32)> = ranges.iter().filter_map(|r| free_count(&r.values).map(|c| (r, c))).collect();
    if counted.is_empty() && !complete_set {
        return None;
    }
    let mut w = XmlWriter::new();
    w.root(INV_COUNT_NOTIF_RQ, &[("Version", Some(FREEROOMS_VERSION))]);
    if complete_set {
        w.empty("UniqueID", &[("Type", Some("16")), ("ID", Some("1")), ("Instance", Some("CompleteSet"))]);
    }
    w.open("Inventories", &[("HotelCode", Some(hotel_code).filter(|h| !h.is_empty()))]);
    if counted.is_empty() {
        w.empty("Inventory", &[]);
    }
    for (r, count) in counted {
        let (start, end, count) = (r.start.to_string(), r.end.to_string(), count.to_string());
        w.open("Inventory", &[]);
        w.empty("StatusApplicationControl", &[("Start", Some(&start)), ("End", Some(&end)), ("InvTypeCode", Some(&r.ota_room))]);
        w.open("InvCounts", &[]);
        w.empty("InvCount", &[("CountType", Some("2")), ("Count", Some(&count))]);
        w.close();
        w.close();
    }
    w.close();
    Some(w.finish())
}

/// A FreeRooms message as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeRooms {
    /// `Inventories@HotelCode` (empty when only `HotelName` is given).
    pub hotel_code: String,
    pub hotel_name: Option<String>,
    /// `UniqueID Instance="CompleteSet"`: everything not stated is unavailable.
    pub complete_set: bool,
    /// Whether the counts are per distinct room (`InvCode`) rather than per category;
    /// then `ota_room` of each range is the room's `InvCode`.
    pub by_room: bool,
    /// Closing seasons (whole hotel closed), inclusive.
    pub closing_seasons: Vec<(Date, Date)>,
    /// One range per `Inventory`, values with `available` only (bookable rooms, CountType 2).
    pub ranges: Vec<AriRange>,
}

impl FreeRooms {
    /// A complete set with nothing in it: every availability is reset to none.
    pub fn is_reset(&self) -> bool {
        self.complete_set && self.ranges.is_empty() && self.closing_seasons.is_empty()
    }
}

/// Reads an `OTA_HotelInvCountNotifRQ` and enforces AlpineBits' FreeRooms rules (module docs).
pub fn parse_freerooms(body: &[u8], limits: &Limits) -> Result<FreeRooms, CodecError> {
    let root = xml::parse_root(body, limits, &[INV_COUNT_NOTIF_RQ])?;
    let complete_set = match root.child("UniqueID") {
        None => false,
        Some(u) => {
            if !matches!(u.req_attr("Type")?, "16" | "35") {
                return Err(CodecError::invalid("UniqueID@Type", "must be 16 or 35"));
            }
            if u.req_attr("Instance")? != "CompleteSet" {
                return Err(CodecError::invalid("UniqueID@Instance", "must be CompleteSet"));
            }
            true
        }
    };
    let inv = root.req_child("Inventories")?;
    let hotel_code = inv.attr("HotelCode").map(str::to_owned);
    let hotel_name = inv.attr("HotelName").map(str::to_owned);
    if hotel_code.is_none() && hotel_name.is_none() {
        return Err(CodecError::rule("hotel_code_or_name", "Inventories needs a HotelCode or a HotelName"));
    }
    let inventories: Vec<&Element> = inv.children_named("Inventory").collect();
    if inventories.is_empty() {
        return Err(CodecError::missing("Inventories/Inventory"));
    }
    let mut out = FreeRooms {
        hotel_code: hotel_code.unwrap_or_default(),
        hotel_name,
        complete_set,
        by_room: false,
        closing_seasons: Vec::new(),
        ranges: Vec::new(),
    };
    if inventories.len() == 1 && inventories[0].children.is_empty() {
        if !complete_set {
            return Err(CodecError::rule(
                "reset_requires_complete_set",
                "a reset (one empty Inventory) needs UniqueID Instance=\"CompleteSet\"",
            ));
        }
        return Ok(out);
    }
    let (mut has_rooms, mut has_categories, mut regular_seen) = (false, false, false);
    for (i, inventory) in inventories.iter().enumerate() {
        let sac = inventory
            .child("StatusApplicationControl")
            .ok_or_else(|| CodecError::missing(format!("Inventory[{i}]/StatusApplicationControl")))?;
        let start = parse_date("StatusApplicationControl@Start", sac.req_attr("Start")?)?;
        let end = parse_date("StatusApplicationControl@End", sac.req_attr("End")?)?;
        if end < start {
            return Err(CodecError::invalid("StatusApplicationControl@End", format!("{end} is before Start {start}")));
        }
        let all_inv = match sac.attr("AllInvCode") {
            Some(v) => parse_bool("StatusApplicationControl@AllInvCode", v)?,
            None => false,
        };
        if all_inv {
            if !complete_set {
                return Err(CodecError::rule(
                    "closing_seasons_require_complete_set",
                    "AllInvCode (closing season) is only allowed in a CompleteSet",
                ));
            }
            if regular_seen {
                return Err(CodecError::rule("closing_seasons_on_top", "closing seasons must come before every other Inventory"));
            }
            if inventory.child("InvCounts").is_some() {
                return Err(CodecError::rule("closing_season_without_inv_counts", "a closing season must not have InvCounts"));
            }
            out.closing_seasons.push((start, end));
            continue;
        }
        regular_seen = true;
        let category = sac.req_attr("InvTypeCode")?;
        let room = sac.attr("InvCode");
        if room.is_some() {
            has_rooms = true;
        } else {
            has_categories = true;
        }
        if has_rooms && has_categories {
            return Err(CodecError::rule("categories_and_rooms_mixed", "room categories and distinct rooms (InvCode) must not be mixed"));
        }
        let available = read_inv_counts(inventory.child("InvCounts"))?;
        out.ranges.push(AriRange {
            ota_room: room.unwrap_or(category).to_owned(),
            ota_rate: None,
            start,
            end,
            values: AriValues { available: Some(available), ..AriValues::default() },
        });
    }
    out.by_room = has_rooms;

    let mut seasons = out.closing_seasons.clone();
    seasons.sort();
    if seasons.windows(2).any(|w| w[1].0 <= w[0].1) {
        return Err(CodecError::rule("closing_seasons_overlap", "closing seasons must not overlap"));
    }
    let mut periods: Vec<(&str, Date, Date)> = out.ranges.iter().map(|r| (r.ota_room.as_str(), r.start, r.end)).collect();
    periods.sort();
    if let Some(w) = periods.windows(2).find(|w| w[0].0 == w[1].0 && w[1].1 <= w[0].2) {
        return Err(CodecError::rule("overlapping_periods", format!("periods of {} overlap ({} and {})", excerpt(w[0].0), w[0].1, w[1].1)));
    }
    Ok(out)
}

/// Bookable rooms (CountType 2) of an `InvCounts`; none stated means 0.
fn read_inv_counts(counts: Option<&Element>) -> Result<u32, CodecError> {
    let Some(counts) = counts else { return Ok(0) };
    let list: Vec<&Element> = counts.children_named("InvCount").collect();
    if list.is_empty() || list.len() > 3 {
        return Err(CodecError::rule(
            "inv_counts_one_to_three",
            format!("InvCounts holds {} InvCount elements (1 to 3 allowed)", list.len()),
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut bookable = 0;
    for c in list {
        let ty = c.req_attr("CountType")?;
        if !matches!(ty, "2" | "6" | "9") {
            return Err(CodecError::invalid("InvCount@CountType", format!("{:?} is not 2, 6 or 9", excerpt(ty))));
        }
        if seen.contains(&ty) {
            return Err(CodecError::rule("duplicate_count_type", format!("CountType {ty} appears twice")));
        }
        seen.push(ty);
        let count: u32 = parse_uint("InvCount@Count", c.req_attr("Count")?)?;
        if ty == "2" {
            bookable = count;
        }
    }
    Ok(bookable)
}

fn generic_rs(root: &'static str, version: &str, error: Option<(&str, &str)>, warnings: &[&str]) -> String {
    let mut w = XmlWriter::new();
    w.root(root, &[("Version", Some(version))]);
    match error {
        Some((code, message)) => {
            let (_, ota_code) = ota_error_code(code);
            w.open("Errors", &[]);
            w.text_element("Error", &[("Type", Some("13")), ("Code", Some(ota_code))], &format!("{code}: {message}"));
            w.close();
        }
        None => {
            w.empty("Success", &[]);
            if !warnings.is_empty() {
                w.open("Warnings", &[]);
                for text in warnings {
                    w.text_element("Warning", &[("Type", Some("11"))], text);
                }
                w.close();
            }
        }
    }
    w.finish()
}

/// `OTA_HotelInvCountNotifRS` success.
pub fn freerooms_rs_success() -> String {
    generic_rs(INV_COUNT_NOTIF_RS, FREEROOMS_VERSION, None, &[])
}

/// `OTA_HotelInvCountNotifRS` success with advisory warnings (`Type="11"`).
pub fn freerooms_rs_warnings(warnings: &[&str]) -> String {
    generic_rs(INV_COUNT_NOTIF_RS, FREEROOMS_VERSION, None, warnings)
}

/// `OTA_HotelInvCountNotifRS` error (`Type="13"`, OTA code from our machine `code`).
pub fn freerooms_rs_error(code: &str, message: &str) -> String {
    generic_rs(INV_COUNT_NOTIF_RS, FREEROOMS_VERSION, Some((code, message)), &[])
}

/// Reads an `OTA_HotelInvCountNotifRS` the way [`crate::opentravel::parse_notif_rs`]
/// reads its answers: `Ok` on `Success`, the errors otherwise (including a body that
/// is not a readable response). Warnings are ignored (see [`parse_freerooms_rs_warnings`]).
pub fn parse_freerooms_rs(body: &[u8]) -> Result<(), Vec<String>> {
    match parse_freerooms_rs_warnings(body, &Limits::default()) {
        Ok(_) => Ok(()),
        Err(CodecError::RemoteErrors(errors)) => Err(errors),
        Err(e) => Err(vec![format!("{}: {e}", e.code())]),
    }
}

/// Reads an `OTA_HotelInvCountNotifRS`: the warnings on success; `Errors` become
/// [`CodecError::RemoteErrors`].
pub fn parse_freerooms_rs_warnings(body: &[u8], limits: &Limits) -> Result<Vec<String>, CodecError> {
    let root = xml::parse_root(body, limits, &[INV_COUNT_NOTIF_RS])?;
    if root.child("Success").is_none() {
        let errors = collect_errors(&root);
        return Err(CodecError::RemoteErrors(if errors.is_empty() { vec!["no Success".to_owned()] } else { errors }));
    }
    Ok(root.all_at(&["Warnings", "Warning"]).into_iter().map(|w| w.text().split_whitespace().collect::<Vec<_>>().join(" ")).collect())
}

// ---------------------------------------------------------------------------
// GuestRequests
// ---------------------------------------------------------------------------

/// `OTA_ReadRQ` for all new guest requests of `hotel_code`.
pub fn read_rq(hotel_code: &str) -> String {
    read_rq_since(hotel_code, None)
}

/// `OTA_ReadRQ`, optionally limited to requests since `since` (`SelectionCriteria Start`).
pub fn read_rq_since(hotel_code: &str, since: Option<jiff::Timestamp>) -> String {
    let mut w = XmlWriter::new();
    w.root("OTA_ReadRQ", &[("Version", Some(READ_VERSION))]);
    w.open("ReadRequests", &[]);
    match since {
        Some(ts) => {
            w.open("HotelReadRequest", &[("HotelCode", Some(hotel_code))]);
            let start = xml::fmt_timestamp(ts);
            w.empty("SelectionCriteria", &[("Start", Some(&start))]);
            w.close();
        }
        None => w.empty("HotelReadRequest", &[("HotelCode", Some(hotel_code))]),
    }
    w.finish()
}

/// An `OTA_ReadRQ` as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRq {
    pub hotel_code: Option<String>,
    pub hotel_name: Option<String>,
    /// `SelectionCriteria@Start`, as given.
    pub since: Option<String>,
}

/// Reads an `OTA_ReadRQ` (simulator side).
pub fn parse_read_rq(body: &[u8], limits: &Limits) -> Result<ReadRq, CodecError> {
    let root = xml::parse_root(body, limits, &["OTA_ReadRQ"])?;
    let req = root.path(&["ReadRequests", "HotelReadRequest"]).ok_or_else(|| CodecError::missing("ReadRequests/HotelReadRequest"))?;
    let rq = ReadRq {
        hotel_code: req.attr("HotelCode").map(str::to_owned),
        hotel_name: req.attr("HotelName").map(str::to_owned),
        since: req.child("SelectionCriteria").and_then(|s| s.attr("Start")).map(str::to_owned),
    };
    if rq.hotel_code.is_none() && rq.hotel_name.is_none() {
        return Err(CodecError::rule("hotel_code_or_name", "HotelReadRequest needs a HotelCode or a HotelName"));
    }
    Ok(rq)
}

/// A quote request (`ResStatus="Requested"`): to be acknowledged, not booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inquiry {
    pub ota_id: String,
    pub hotel_code: String,
    pub created: String,
}

/// What an `OTA_ResRetrieveRS` carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResRetrieve {
    pub bookings: Vec<InboundBooking>,
    pub inquiries: Vec<Inquiry>,
    /// Reservations that could not be read: (`UniqueID@ID` or `"?"`, why).
    pub invalid: Vec<(String, CodecError)>,
}

/// Reads an `OTA_ResRetrieveRS` (see the module docs). `Errors` become
/// [`CodecError::RemoteErrors`].
pub fn parse_res_retrieve_rs(body: &[u8], limits: &Limits) -> Result<ResRetrieve, CodecError> {
    let root = xml::parse_root(body, limits, &["OTA_ResRetrieveRS"])?;
    if root.child("Success").is_none() {
        let errors = collect_errors(&root);
        return Err(CodecError::RemoteErrors(if errors.is_empty() { vec!["no Success".to_owned()] } else { errors }));
    }
    let list = root.child("ReservationsList").ok_or_else(|| CodecError::missing("OTA_ResRetrieveRS/ReservationsList"))?;
    let ts = root.attr("TimeStamp");
    let mut out = ResRetrieve::default();
    for res in list.children_named("HotelReservation") {
        let uid = res.child("UniqueID");
        let id = uid.and_then(|u| u.attr("ID")).unwrap_or("?").to_owned();
        // An over-long id is neither stored nor quoted whole.
        if let Err(e) = check_len("UniqueID@ID", &id, MAX_ID_CHARS) {
            out.invalid.push((excerpt(&id), e));
            continue;
        }
        let status = res.attr("ResStatus");
        let action = match (status, uid.and_then(|u| u.attr("Type"))) {
            (_, Some("15")) | (Some("Cancelled"), _) => BookingAction::Cancel,
            (Some("Modify"), _) => BookingAction::Modify,
            (Some("Reserved"), _) => BookingAction::New,
            (Some("Requested"), _) => {
                let hotel_code = res.path(&["ResGlobalInfo", "BasicPropertyInfo"]).and_then(|b| b.attr("HotelCode")).unwrap_or_default();
                let created = res.attr("CreateDateTime").or(ts).unwrap_or_default();
                match check_len("HotelCode", hotel_code, MAX_ID_CHARS).and_then(|_| check_len("CreateDateTime", created, MAX_TOKEN_CHARS)) {
                    Ok(()) => out.inquiries.push(Inquiry { ota_id: id, hotel_code: hotel_code.to_owned(), created: created.to_owned() }),
                    Err(e) => out.invalid.push((id, e)),
                }
                continue;
            }
            (other, _) => {
                let why = CodecError::invalid(
                    "HotelReservation@ResStatus",
                    format!("{:?} is not Requested, Reserved, Modify or Cancelled", other.map(excerpt)),
                );
                out.invalid.push((id, why));
                continue;
            }
        };
        let read = read_reservation(res, action, ts, limits).and_then(|mut b| {
            if let Some(revision) = revision_instant(res, ts)? {
                b.revision = revision;
            }
            Ok(b)
        });
        match read {
            Ok(b) => out.bookings.push(b),
            Err(e) => out.invalid.push((id, e)),
        }
    }
    Ok(out)
}

/// The revision of a pulled reservation as a UTC instant (or, without an offset, the
/// local time as given; see [`normalize_revision`]): `LastModifyDateTime`, else
/// `CreateDateTime`, else the root `TimeStamp` (see the module docs); `None` when the
/// message has none of them.
fn revision_instant(res: &Element, root_timestamp: Option<&str>) -> Result<Option<String>, CodecError> {
    let stated = [
        ("HotelReservation@LastModifyDateTime", res.attr("LastModifyDateTime")),
        ("HotelReservation@CreateDateTime", res.attr("CreateDateTime")),
        ("OTA_ResRetrieveRS@TimeStamp", root_timestamp),
    ];
    let Some((field, text)) = stated.into_iter().find_map(|(f, v)| v.map(|v| (f, v))) else {
        return Ok(None);
    };
    normalize_revision(text).map(Some).ok_or_else(|| CodecError::invalid(field, format!("{:?} is not an xs:dateTime", excerpt(text))))
}

/// An xs:dateTime revision in the form it is stored and compared in: with an offset
/// (`Z`, `+07:00`), the UTC instant (`2025-06-01T01:29:59.5Z`); without one, the local
/// date-time as given (its zone is the property's, known where revisions are
/// compared, not here). `None` when it is not an xs:dateTime.
pub fn normalize_revision(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(t) = saluran_domain::channel::revision_instant(s, &jiff::tz::TimeZone::UTC) {
        if s.parse::<jiff::Timestamp>().is_ok() {
            return Some(t.to_string());
        }
        return Some(s.to_owned());
    }
    None
}

/// `OTA_ResRetrieveRS` listing `bookings` (simulator side). The revision is written as
/// `CreateDateTime` when it is an xs:dateTime (else the Unix epoch is written, which the
/// schema requires); nightly prices and the booking total are not carried by
/// AlpineBits; room totals need the booking's currency.
pub fn res_retrieve_rs(bookings: &[InboundBooking]) -> String {
    let mut w = XmlWriter::new();
    w.root("OTA_ResRetrieveRS", &[("Version", Some(RETRIEVE_VERSION))]);
    w.empty("Success", &[]);
    if bookings.is_empty() {
        w.empty("ReservationsList", &[]);
        return w.finish();
    }
    w.open("ReservationsList", &[]);
    for b in bookings {
        let (status, uid_type) = match b.action {
            BookingAction::New => ("Reserved", "14"),
            BookingAction::Modify => ("Modify", "14"),
            BookingAction::Cancel => ("Cancelled", "15"),
        };
        let created = if is_xs_datetime(&b.revision) { b.revision.as_str() } else { "1970-01-01T00:00:00Z" };
        w.open("HotelReservation", &[("CreateDateTime", Some(created)), ("ResStatus", Some(status))]);
        w.empty("UniqueID", &[("Type", Some(uid_type)), ("ID", Some(&b.ota_reservation_id))]);
        if !b.rooms.is_empty() {
            w.open("RoomStays", &[]);
            for room in &b.rooms {
                w.open("RoomStay", &[]);
                w.open("RoomTypes", &[]);
                w.empty("RoomType", &[("RoomTypeCode", Some(&room.ota_room))]);
                w.close();
                if let Some(rate) = &room.ota_rate {
                    w.open("RatePlans", &[]);
                    w.empty("RatePlan", &[("RatePlanCode", Some(rate))]);
                    w.close();
                }
                if room.adults > 0 {
                    let n = room.adults.to_string();
                    w.open("GuestCounts", &[]);
                    w.empty("GuestCount", &[("Count", Some(&n))]);
                    w.close();
                }
                let (start, end) = (room.check_in.to_string(), room.check_out.to_string());
                w.empty("TimeSpan", &[("Start", Some(&start)), ("End", Some(&end))]);
                if let (Some(total), Some(currency)) = (&room.total, &b.currency) {
                    let t = fmt_amount(total);
                    w.empty("Total", &[("AmountAfterTax", Some(&t)), ("CurrencyCode", Some(currency))]);
                }
                w.close();
            }
            w.close();
        }
        if let Some(name) = &b.guest_name {
            let (given, surname) = split_name(name);
            if !surname.is_empty() {
                w.open("ResGuests", &[]);
                w.open("ResGuest", &[]);
                w.open("Profiles", &[]);
                w.open("ProfileInfo", &[]);
                w.open("Profile", &[]);
                w.open("Customer", &[]);
                w.open("PersonName", &[]);
                w.text_element("GivenName", &[], given.as_deref().unwrap_or("-"));
                w.text_element("Surname", &[], &surname);
                for _ in 0..7 {
                    w.close();
                }
            }
        }
        if !b.hotel_code.is_empty() {
            w.open("ResGlobalInfo", &[]);
            w.empty("BasicPropertyInfo", &[("HotelCode", Some(&b.hotel_code))]);
            w.close();
        }
        w.close();
    }
    w.finish()
}

/// `OTA_ResRetrieveRS` with an error (simulator side).
pub fn res_retrieve_rs_error(code: &str, message: &str) -> String {
    let (_, ota_code) = ota_error_code(code);
    let mut w = XmlWriter::new();
    w.root("OTA_ResRetrieveRS", &[("Version", Some(RETRIEVE_VERSION))]);
    w.open("Errors", &[]);
    w.text_element("Error", &[("Type", Some("13")), ("Code", Some(ota_code))], &format!("{code}: {message}"));
    w.finish()
}

/// One entry of an `OTA_NotifReportRQ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifAck {
    /// The id as the server sent it (`UniqueID@ID`).
    pub ota_id: String,
    /// A cancellation (`UniqueID Type="15"`) rather than a reservation or inquiry (`14`).
    pub cancellation: bool,
    /// `Some(reason)` refuses the entry (sent as a warning) instead of acknowledging it.
    pub refused: Option<String>,
}

impl NotifAck {
    /// Acknowledges a committed booking, modification or cancellation.
    pub fn for_booking(b: &InboundBooking) -> Self {
        NotifAck { ota_id: b.ota_reservation_id.clone(), cancellation: b.action == BookingAction::Cancel, refused: None }
    }
    /// Acknowledges a quote request.
    pub fn for_inquiry(i: &Inquiry) -> Self {
        NotifAck { ota_id: i.ota_id.clone(), cancellation: false, refused: None }
    }
}

/// `OTA_NotifReportRQ` acknowledging (or refusing) what was read.
pub fn notif_report_rq(acks: &[NotifAck]) -> String {
    let mut w = XmlWriter::new();
    w.root("OTA_NotifReportRQ", &[("Version", Some(NOTIF_REPORT_VERSION))]);
    w.empty("Success", &[]);
    let refused: Vec<&NotifAck> = acks.iter().filter(|a| a.refused.is_some()).collect();
    if !refused.is_empty() {
        w.open("Warnings", &[]);
        for a in refused {
            let reason = a.refused.as_deref().filter(|r| !r.is_empty()).unwrap_or("Unable to process reservation");
            w.text_element("Warning", &[("Type", Some("3")), ("Code", Some("450")), ("RecordID", Some(&a.ota_id))], reason);
        }
        w.close();
    }
    let accepted: Vec<&NotifAck> = acks.iter().filter(|a| a.refused.is_none()).collect();
    if !accepted.is_empty() {
        w.open("NotifDetails", &[]);
        w.open("HotelNotifReport", &[]);
        w.open("HotelReservations", &[]);
        for a in accepted {
            w.open("HotelReservation", &[]);
            w.empty("UniqueID", &[("Type", Some(if a.cancellation { "15" } else { "14" })), ("ID", Some(&a.ota_id))]);
            w.close();
        }
    }
    w.finish()
}

/// Reads an `OTA_NotifReportRQ` (simulator side).
pub fn parse_notif_report_rq(body: &[u8], limits: &Limits) -> Result<Vec<NotifAck>, CodecError> {
    let root = xml::parse_root(body, limits, &["OTA_NotifReportRQ"])?;
    root.req_child("Success")?;
    let mut out = Vec::new();
    for w in root.all_at(&["Warnings", "Warning"]) {
        out.push(NotifAck { ota_id: w.req_attr("RecordID")?.to_owned(), cancellation: false, refused: Some(w.text().to_owned()) });
    }
    for res in root.all_at(&["NotifDetails", "HotelNotifReport", "HotelReservations", "HotelReservation"]) {
        let uid = res.req_child("UniqueID")?;
        let cancellation = match uid.req_attr("Type")? {
            "14" => false,
            "15" => true,
            other => return Err(CodecError::invalid("UniqueID@Type", format!("{:?} is not 14 or 15", excerpt(other)))),
        };
        out.push(NotifAck { ota_id: uid.req_attr("ID")?.to_owned(), cancellation, refused: None });
    }
    Ok(out)
}

/// `OTA_NotifReportRS` success (simulator side).
pub fn notif_report_rs_success() -> String {
    let mut w = XmlWriter::new();
    w.root("OTA_NotifReportRS", &[("Version", Some(NOTIF_REPORT_VERSION))]);
    w.empty("Success", &[]);
    w.finish()
}

/// Reads an `OTA_NotifReportRS`; `Errors` become [`CodecError::RemoteErrors`].
pub fn parse_notif_report_rs(body: &[u8], limits: &Limits) -> Result<(), CodecError> {
    let root = xml::parse_root(body, limits, &["OTA_NotifReportRS"])?;
    if root.child("Success").is_some() {
        Ok(())
    } else {
        let errors = collect_errors(&root);
        Err(CodecError::RemoteErrors(if errors.is_empty() { vec!["no Success".to_owned()] } else { errors }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn handshake_json_round_trips_and_answers_questions() {
        let h = Handshake::client_default();
        let back = Handshake::parse(&h.to_json()).unwrap();
        assert_eq!(back, h);
        assert!(h.supports(PROTOCOL_VERSION, capability::FREEROOMS, capability::FREEROOMS_DELTAS));
        assert!(!h.supports(PROTOCOL_VERSION, capability::FREEROOMS, capability::FREEROOMS_ROOMS));
        assert!(h.has_action(PROTOCOL_VERSION, capability::GUEST_REQUESTS_READ));
        assert!(!h.has_action("2018-10", capability::PING));
        assert_eq!(Handshake::parse("[").unwrap_err().code(), "json_malformed");
    }

    #[test]
    fn freerooms_nothing_to_send() {
        let r = AriRange {
            ota_room: "DBL".into(),
            ota_rate: None,
            start: date(2025, 1, 1),
            end: date(2025, 1, 1),
            values: AriValues::default(),
        };
        assert_eq!(freerooms_rq("H", std::slice::from_ref(&r), false), None);
        let reset = freerooms_rq("H", &[r], true).unwrap();
        assert!(parse_freerooms(reset.as_bytes(), &Limits::default()).unwrap().is_reset());
    }

    #[test]
    fn stop_sell_is_sent_as_zero() {
        let r = AriRange {
            ota_room: "DBL".into(),
            ota_rate: Some("ignored".into()),
            start: date(2025, 1, 1),
            end: date(2025, 1, 3),
            values: AriValues { available: Some(4), stop_sell: Some(true), ..AriValues::default() },
        };
        let body = freerooms_rq("H", &[r], false).unwrap();
        let fr = parse_freerooms(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(fr.ranges[0].values.available, Some(0));
        assert_eq!(fr.ranges[0].ota_rate, None);
        assert!(!fr.complete_set);
    }

    #[test]
    fn overlapping_periods_and_bad_counts_are_refused() {
        let mk = |a: i8, b: i8| AriRange {
            ota_room: "DBL".into(),
            ota_rate: None,
            start: date(2025, 1, a),
            end: date(2025, 1, b),
            values: AriValues { available: Some(1), ..AriValues::default() },
        };
        let overlapping = freerooms_rq("H", &[mk(1, 5), mk(5, 6)], false).unwrap();
        assert_eq!(parse_freerooms(overlapping.as_bytes(), &Limits::default()).unwrap_err().code(), "rule_violation");
        let body_ok = freerooms_rq("H", &[mk(1, 5)], false).unwrap();
        let one = "<InvCount CountType=\"2\" Count=\"1\"/>";
        let dup = body_ok.replace(one, &format!("{one}{one}"));
        assert_ne!(dup, body_ok);
        assert_eq!(parse_freerooms(dup.as_bytes(), &Limits::default()).unwrap_err().code(), "rule_violation");
        let bad_type = body_ok.replace("CountType=\"2\"", "CountType=\"1\"");
        assert_eq!(parse_freerooms(bad_type.as_bytes(), &Limits::default()).unwrap_err().code(), "invalid_value");
        let backwards = body_ok.replace("End=\"2025-01-05\"", "End=\"2024-12-31\"");
        assert_eq!(parse_freerooms(backwards.as_bytes(), &Limits::default()).unwrap_err().code(), "invalid_value");
    }

    #[test]
    fn notif_report_round_trips() {
        let acks = vec![
            NotifAck { ota_id: "a".into(), cancellation: false, refused: None },
            NotifAck { ota_id: "b".into(), cancellation: true, refused: None },
            NotifAck { ota_id: "c".into(), cancellation: false, refused: Some("unmapped room".into()) },
        ];
        let mut back = parse_notif_report_rq(notif_report_rq(&acks).as_bytes(), &Limits::default()).unwrap();
        back.sort_by(|x, y| x.ota_id.cmp(&y.ota_id));
        assert_eq!(back, acks);
        assert_eq!(parse_notif_report_rq(notif_report_rq(&[]).as_bytes(), &Limits::default()).unwrap(), vec![]);
        assert_eq!(parse_notif_report_rs(notif_report_rs_success().as_bytes(), &Limits::default()), Ok(()));
    }

    fn retrieve(reservations: &[(&str, &str, &str)]) -> String {
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8"?><OTA_ResRetrieveRS xmlns="http://www.opentravel.org/OTA/2003/05" Version="7.000"><Success/><ReservationsList>"#,
        );
        for (id, status, stamps) in reservations {
            xml.push_str(&format!(
                r#"<HotelReservation {stamps} ResStatus="{status}"><UniqueID Type="14" ID="{id}"/><RoomStays><RoomStay><RoomTypes><RoomType RoomTypeCode="DBL"/></RoomTypes><GuestCounts><GuestCount Count="2"/></GuestCounts><TimeSpan Start="2030-01-01" End="2030-01-03"/></RoomStay></RoomStays></HotelReservation>"#
            ));
        }
        xml.push_str("</ReservationsList></OTA_ResRetrieveRS>");
        xml
    }

    #[test]
    fn revisions_are_instants_and_prefer_last_modify() {
        let body = retrieve(&[
            ("A", "Reserved", r#"CreateDateTime="2030-01-01T10:00:00+07:00""#),
            ("A", "Modify", r#"CreateDateTime="2030-01-01T10:00:00+07:00" LastModifyDateTime="2030-01-01T03:30:00.250Z""#),
            ("B", "Reserved", r#"CreateDateTime="2030-01-01T10:00:00""#),
        ]);
        let rr = parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).unwrap();
        assert!(rr.invalid.is_empty(), "{:?}", rr.invalid);
        let revs: Vec<&str> = rr.bookings.iter().map(|b| b.revision.as_str()).collect();
        // Without an offset the local time is kept: the property's zone decides.
        assert_eq!(revs, ["2030-01-01T03:00:00Z", "2030-01-01T03:30:00.25Z", "2030-01-01T10:00:00"]);
        // The modification keeps the creation time but is later: newer, not stale.
        let order = saluran_domain::channel::revision_order(revs[1], revs[0], &jiff::tz::TimeZone::UTC);
        assert_eq!(order, std::cmp::Ordering::Greater);
    }

    #[test]
    fn an_unparseable_revision_makes_only_that_reservation_unreadable() {
        let body = retrieve(&[
            ("BAD", "Reserved", r#"CreateDateTime="2030-01-01T10:00:00Z" LastModifyDateTime="2030-13-45T99:00:00Z""#),
            ("OK", "Reserved", r#"CreateDateTime="2030-01-01T10:00:00Z""#),
        ]);
        let rr = parse_res_retrieve_rs(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(rr.bookings.len(), 1);
        assert_eq!(rr.bookings[0].ota_reservation_id, "OK");
        assert_eq!(rr.invalid.len(), 1);
        assert_eq!(rr.invalid[0].0, "BAD");
        assert!(rr.invalid[0].1.to_string().contains("LastModifyDateTime"), "{}", rr.invalid[0].1);
    }

    #[test]
    fn remote_errors_are_reported() {
        let e = parse_freerooms_rs_warnings(freerooms_rs_error("invalid_value", "bad dates").as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e, CodecError::RemoteErrors(vec!["13/450: invalid_value: bad dates".into()]));
        assert_eq!(
            parse_freerooms_rs(freerooms_rs_error("invalid_value", "bad dates").as_bytes()),
            Err(vec!["13/450: invalid_value: bad dates".into()])
        );
        assert_eq!(
            parse_freerooms_rs_warnings(freerooms_rs_warnings(&["old data"]).as_bytes(), &Limits::default()).unwrap(),
            vec!["old data"]
        );
        assert_eq!(parse_freerooms_rs(freerooms_rs_warnings(&["old data"]).as_bytes()), Ok(()));
        assert!(parse_freerooms_rs(b"<!DOCTYPE x><x/>").unwrap_err()[0].starts_with("xml_doctype"));
        let e = parse_res_retrieve_rs(res_retrieve_rs_error("unknown_hotel", "no such hotel").as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e.code(), "remote_error");
    }
}
