//! Hardened XML: a bounded reader that builds a tiny owned element tree, and a
//! small writer. Every XML parser of the crate goes through [`parse_document`].
//!
//! What the reader refuses (DESIGN §5, I7), each with its own [`CodecError`]:
//!
//! - bodies over [`Limits::max_bytes`] — checked before any parsing (`xml_too_large`);
//! - anything that is not UTF-8: invalid bytes, a UTF-16/32 byte-order mark, or an
//!   XML declaration naming another encoding (`xml_not_utf8`);
//! - any `<!DOCTYPE …>` (`xml_doctype`): no DTD means no entity can be declared, so
//!   "billion laughs" and external entities (XXE) cannot happen. quick-xml never
//!   expands entities or fetches anything itself; the DOCTYPE event is refused as soon
//!   as it is read;
//! - references to entities other than `&lt; &gt; &amp; &apos; &quot;`
//!   (`xml_undeclared_entity`), and character references or literal characters outside
//!   XML's `Char` production such as `&#0;`, `&#xD800;`, `&#x1;` (`xml_invalid_char`);
//! - nesting deeper than [`Limits::max_depth`] (`xml_too_deep`), checked on every start
//!   tag while streaming: the reader keeps an explicit stack, never recurses, and stops
//!   at the first tag over the bound, so a 100,000-deep document fails at depth 33;
//! - more than [`Limits::max_elements`] elements (`xml_too_many_elements`);
//! - everything that is not well-formed (`xml_malformed`): mismatched or unclosed tags,
//!   duplicate attributes, `<` in attribute values, text or a second element outside
//!   the root, and so on.
//!
//! Namespaces are not resolved: elements are known by their local name (the part
//! after any `prefix:`), which is how OTA messages are read in practice (with or
//! without the OpenTravel default namespace).

use crate::error::{excerpt, CodecError};
use jiff::civil::Date;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Bounds applied to every inbound body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes (DESIGN §5: 1 MiB).
    pub max_bytes: usize,
    /// Deepest element nesting accepted (the root is depth 1).
    pub max_depth: usize,
    /// Most elements accepted in one document.
    pub max_elements: usize,
    /// Longest stay accepted in a booking, in nights (guards per-night expansion).
    pub max_stay_nights: u32,
    /// Longest attribute value accepted, in characters. OTA attributes are
    /// codes, ids, dates and amounts (the longest in the schemas is 255):
    /// a longer one is refused before any codec looks at it.
    pub max_attr_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 1 << 20, max_depth: 32, max_elements: 100_000, max_stay_nights: 366, max_attr_chars: 1024 }
    }
}

/// An element of a parsed document: local name, attributes (raw names, unescaped
/// values), child elements in order, and its own character data (concatenated).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The attribute's value, trimmed; `None` when absent or blank.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The attribute's value, or `missing_field` naming `Element@name`.
    pub fn req_attr(&self, name: &str) -> Result<&str, CodecError> {
        self.attr(name).ok_or_else(|| CodecError::missing(format!("{}@{name}", self.name)))
    }

    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first child with this local name, or `missing_field`.
    pub fn req_child(&self, name: &str) -> Result<&Element, CodecError> {
        self.child(name).ok_or_else(|| CodecError::missing(format!("{}/{name}", self.name)))
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of first children: `e.path(&["A", "B"])` is `e/A/B`.
    pub fn path(&self, path: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for p in path {
            cur = cur.child(p)?;
        }
        Some(cur)
    }

    /// Every element at the end of `path` (all matches at every step), in document order.
    pub fn all_at<'a>(&'a self, path: &[&str]) -> Vec<&'a Element> {
        let mut level: Vec<&Element> = vec![self];
        for p in path {
            level = level.iter().flat_map(|e| e.children.iter().filter(|c| c.name == *p)).collect();
        }
        level
    }

    /// The first descendant (depth-first, document order) with this local name. Iterative.
    pub fn find(&self, name: &str) -> Option<&Element> {
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(e) = stack.pop() {
            if e.name == name {
                return Some(e);
            }
            stack.extend(e.children.iter().rev());
        }
        None
    }

    /// The element's own text, trimmed.
    pub fn text(&self) -> &str {
        self.text.trim()
    }
}

/// Reads a whole document under `limits` and returns its root element.
pub fn parse_document(body: &[u8], limits: &Limits) -> Result<Element, CodecError> {
    if body.len() > limits.max_bytes {
        return Err(CodecError::TooLarge { size: body.len(), limit: limits.max_bytes });
    }
    let text = decode_utf8(body)?;
    let mut reader = Reader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.expand_empty_elements = false;
        cfg.allow_dangling_amp = false;
        cfg.allow_unmatched_ends = false;
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut first = true;
    loop {
        let event = reader.read_event().map_err(|e| CodecError::Malformed(excerpt(&e.to_string())))?;
        let at_start = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(_) if !at_start => return Err(CodecError::Malformed("XML declaration not at the start".into())),
            Event::Decl(decl) => {
                if let Some(enc) = decl.encoding() {
                    let enc = enc.map_err(|e| CodecError::Malformed(excerpt(&e.to_string())))?;
                    let enc = enc.trim();
                    if !enc.eq_ignore_ascii_case("utf-8") && !enc.eq_ignore_ascii_case("utf8") {
                        return Err(CodecError::NotUtf8(format!("the document declares encoding {}", excerpt(enc))));
                    }
                }
            }
            Event::DocType(_) => return Err(CodecError::Doctype),
            Event::Start(start) => {
                let el = open_element(&start, root.is_some(), stack.len(), &mut elements, limits)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                let el = open_element(&start, root.is_some(), stack.len(), &mut elements, limits)?;
                attach(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| CodecError::Malformed("end tag without start tag".into()))?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                check_chars(&t)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&t),
                    None if t.chars().all(is_xml_space) => {}
                    None => return Err(CodecError::Malformed("text outside the root element".into())),
                }
            }
            Event::CData(t) => {
                check_chars(&t)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&t),
                    None => return Err(CodecError::Malformed("CDATA outside the root element".into())),
                }
            }
            Event::GeneralRef(r) => {
                let c = resolve_reference(&r)?;
                match stack.last_mut() {
                    Some(top) => top.text.push(c),
                    None => return Err(CodecError::Malformed("reference outside the root element".into())),
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CodecError::Malformed("unexpected end of document: unclosed elements".into()));
    }
    root.ok_or_else(|| CodecError::Malformed("no root element".into()))
}

/// Parses and checks the root's local name.
pub fn parse_root(body: &[u8], limits: &Limits, expected: &[&str]) -> Result<Element, CodecError> {
    let root = parse_document(body, limits)?;
    if expected.iter().any(|e| *e == root.name) {
        Ok(root)
    } else {
        Err(CodecError::UnexpectedRoot { expected: expected.join(" or "), found: excerpt(&root.name) })
    }
}

/// The root element of a body (local name and attributes) without reading the rest:
/// for answering a request that failed to parse in the right form. `None` when the body
/// is too large, not UTF-8, has a DOCTYPE or no readable start tag.
pub fn sniff_root(body: &[u8], limits: &Limits) -> Option<Element> {
    if body.len() > limits.max_bytes {
        return None;
    }
    let text = decode_utf8(body).ok()?;
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event().ok()? {
            Event::Start(start) | Event::Empty(start) => {
                let mut count = 0;
                return open_element(&start, false, 0, &mut count, limits).ok();
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::Text(_) => {}
            _ => return None,
        }
    }
}

fn decode_utf8(body: &[u8]) -> Result<&str, CodecError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.starts_with(b"\xFE\xFF") || body.starts_with(b"\xFF\xFE") || body.starts_with(b"\0\0\xFE\xFF") {
        return Err(CodecError::NotUtf8("UTF-16/UTF-32 byte-order mark".into()));
    }
    std::str::from_utf8(body).map_err(|e| CodecError::NotUtf8(format!("invalid byte at offset {}", e.valid_up_to())))
}

fn open_element(
    start: &BytesStart<'_>,
    root_done: bool,
    open: usize,
    elements: &mut usize,
    limits: &Limits,
) -> Result<Element, CodecError> {
    if root_done && open == 0 {
        return Err(CodecError::Malformed("more than one root element".into()));
    }
    if open + 1 > limits.max_depth {
        return Err(CodecError::TooDeep { limit: limits.max_depth });
    }
    *elements += 1;
    if *elements > limits.max_elements {
        return Err(CodecError::TooManyElements { limit: limits.max_elements });
    }
    let qname = start.name();
    let raw: &str = qname.as_ref();
    let name = raw.rsplit(':').next().unwrap_or(raw).to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| CodecError::Malformed(excerpt(&e.to_string())))?;
        let key: &str = attr.key.as_ref();
        let value = unescape_attr(&attr.value)?;
        crate::model::check_len(&format!("{name}@{key}"), &value, limits.max_attr_chars)?;
        attrs.push((key.to_owned(), value));
    }
    Ok(Element { name, attrs, children: Vec::new(), text: String::new() })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
/// (Surrogates cannot occur in a Rust `char`.)
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn check_chars(s: &str) -> Result<(), CodecError> {
    match s.chars().find(|c| !is_xml_char(*c)) {
        Some(c) => Err(CodecError::InvalidChar(format!("U+{:04X} is not allowed in XML", c as u32))),
        None => Ok(()),
    }
}

/// Resolves the inside of `&…;`: one of the five predefined entities or a character reference.
fn resolve_reference(name: &str) -> Result<char, CodecError> {
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => {
            if let Some(num) = name.strip_prefix('#') {
                let (digits, radix) = match num.strip_prefix('x') {
                    Some(hex) => (hex, 16),
                    None => (num, 10),
                };
                let valid_digits = !digits.is_empty() && digits.len() <= 8 && digits.chars().all(|c| c.is_digit(radix));
                let code = if valid_digits { u32::from_str_radix(digits, radix).ok() } else { None };
                match code.and_then(char::from_u32).filter(|c| is_xml_char(*c)) {
                    Some(c) => Ok(c),
                    None => Err(CodecError::InvalidChar(format!("character reference &{};", excerpt(name)))),
                }
            } else {
                Err(CodecError::UndeclaredEntity(excerpt(name)))
            }
        }
    }
}

/// Unescapes a raw attribute value and applies XML's attribute-value normalization
/// of literal white space (tab, CR, LF → space; CR LF → one space).
fn unescape_attr(raw: &str) -> Result<String, CodecError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '<', '\t', '\n', '\r']) {
        check_chars(&rest[..i])?;
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(first) = tail.chars().next() else { break };
        match first {
            '<' => return Err(CodecError::Malformed("'<' in an attribute value".into())),
            '&' => {
                let end = tail.find(';').filter(|e| *e <= 34).ok_or_else(|| CodecError::Malformed("unterminated reference".into()))?;
                out.push(resolve_reference(&tail[1..end])?);
                rest = &tail[end + 1..];
            }
            '\r' => {
                out.push(' ');
                rest = tail.strip_prefix("\r\n").unwrap_or(&tail[1..]);
            }
            _ => {
                out.push(' ');
                rest = &tail[1..];
            }
        }
    }
    check_chars(rest)?;
    out.push_str(rest);
    Ok(out)
}

// ---------------------------------------------------------------------------
// Field helpers shared by the parsers
// ---------------------------------------------------------------------------

/// Parses `YYYY-MM-DD` (a trailing `T…` time part, as some OTAs send, is ignored).
pub fn parse_date(field: &str, s: &str) -> Result<Date, CodecError> {
    let s = s.trim();
    let day = match s.get(10..11) {
        Some("T") => &s[..10],
        _ => s,
    };
    let b = day.as_bytes();
    let shape = b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(CodecError::invalid(field, format!("{:?} is not a YYYY-MM-DD date", excerpt(s))));
    }
    let num = |r: std::ops::Range<usize>| day[r].parse::<i16>().ok();
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => {
            Date::new(y, m as i8, d as i8).map_err(|_| CodecError::invalid(field, format!("{:?} is not a calendar date", excerpt(s))))
        }
        _ => Err(CodecError::invalid(field, format!("{:?} is not a YYYY-MM-DD date", excerpt(s)))),
    }
}

/// Parses a non-negative decimal amount written as plain digits (`299`, `1250000.50`).
pub fn parse_amount(field: &str, s: &str) -> Result<Decimal, CodecError> {
    let s = s.trim();
    let plain =
        !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_digit() || c == '.') && s.chars().any(|c| c.is_ascii_digit());
    if !plain {
        return Err(CodecError::invalid(field, format!("{:?} is not a non-negative decimal", excerpt(s))));
    }
    Decimal::from_str(s).map_err(|_| CodecError::invalid(field, format!("{:?} is not a decimal", excerpt(s))))
}

/// Parses an unsigned integer that must fit `T`.
pub fn parse_uint<T: TryFrom<u64>>(field: &str, s: &str) -> Result<T, CodecError> {
    let s = s.trim();
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodecError::invalid(field, format!("{:?} is not a non-negative integer", excerpt(s))));
    }
    let n: u64 = s.parse().map_err(|_| CodecError::invalid(field, "not an integer"))?;
    T::try_from(n).map_err(|_| CodecError::invalid(field, format!("{n} is out of range")))
}

/// Parses an XML Schema boolean (`true`, `false`, `1`, `0`).
pub fn parse_bool(field: &str, s: &str) -> Result<bool, CodecError> {
    match s.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(CodecError::invalid(field, format!("{:?} is not a boolean", excerpt(other)))),
    }
}

/// Formats a decimal for the wire: plain digits, no exponent, no trailing zeros beyond the value's scale.
pub fn fmt_amount(d: &Decimal) -> String {
    d.normalize().to_string()
}

/// Formats a timestamp as `YYYY-MM-DDTHH:MM:SSZ` (xs:dateTime, UTC, whole seconds).
pub fn fmt_timestamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/// The OpenTravel namespace every message is written in.
pub const OTA_NS: &str = "http://www.opentravel.org/OTA/2003/05";

/// A small, always well-formed XML writer: escapes text and attributes, drops
/// characters XML cannot carry, indents two spaces per level.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

/// An attribute list for the writer; `None` values are skipped.
pub type Attrs<'a> = &'a [(&'a str, Option<&'a str>)];

impl XmlWriter {
    /// Starts a document with the XML declaration.
    pub fn new() -> Self {
        XmlWriter { out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), open: Vec::new() }
    }

    /// Opens the root element in the OpenTravel namespace.
    pub fn root(&mut self, name: &'static str, attrs: Attrs<'_>) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        self.out.push_str(OTA_NS);
        self.out.push('"');
        self.write_attrs(attrs);
        self.out.push_str(">\n");
        self.open.push(name);
    }

    /// Opens a child element.
    pub fn open(&mut self, name: &'static str, attrs: Attrs<'_>) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.write_attrs(attrs);
        self.out.push_str(">\n");
        self.open.push(name);
    }

    /// Writes an empty element `<name …/>`.
    pub fn empty(&mut self, name: &str, attrs: Attrs<'_>) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.write_attrs(attrs);
        self.out.push_str("/>\n");
    }

    /// Writes `<name …>text</name>`.
    pub fn text_element(&mut self, name: &str, attrs: Attrs<'_>, text: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.write_attrs(attrs);
        self.out.push('>');
        escape_into(&mut self.out, text, false);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.indent();
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push_str(">\n");
        }
    }

    /// Closes every open element and returns the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }

    fn write_attrs(&mut self, attrs: Attrs<'_>) {
        for (k, v) in attrs {
            if let Some(v) = v {
                self.out.push(' ');
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(&mut self.out, v, true);
                self.out.push('"');
            }
        }
    }
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, CodecError> {
        parse_document(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn reads_a_small_document() {
        let e = parse(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c --><a:R xmlns:a=\"x\" K=\"v &amp; &#x41;&#66;\"><B>t&lt;1<![CDATA[<x>]]></B><C/></a:R>",
        )
        .unwrap();
        assert_eq!(e.name, "R");
        assert_eq!(e.attr("K"), Some("v & AB"));
        assert_eq!(e.child("B").unwrap().text(), "t<1<x>");
        assert!(e.child("C").is_some());
    }

    #[test]
    fn refuses_hostile_and_broken_documents() {
        let cases: &[(&str, &str)] = &[
            ("<!DOCTYPE a><a/>", "xml_doctype"),
            ("<a>&e;</a>", "xml_undeclared_entity"),
            ("<a b=\"&e;\"/>", "xml_undeclared_entity"),
            ("<a>&#0;</a>", "xml_invalid_char"),
            ("<a>&#xD800;</a>", "xml_invalid_char"),
            ("<a>&#x110000;</a>", "xml_invalid_char"),
            ("<a b=\"&#1;\"/>", "xml_invalid_char"),
            ("<a>\u{1}</a>", "xml_invalid_char"),
            ("<a><b></a>", "xml_malformed"),
            ("<a>", "xml_malformed"),
            ("<a/><b/>", "xml_malformed"),
            ("x<a/>", "xml_malformed"),
            ("", "xml_malformed"),
            ("<a b=\"1\" b=\"2\"/>", "xml_malformed"),
            ("<a b=\"<\"/>", "xml_malformed"),
            ("<a b=c/>", "xml_malformed"),
            ("<a b/>", "xml_malformed"),
            ("<a>&amp</a>", "xml_malformed"),
            ("<a b=\"&amp\"/>", "xml_malformed"),
            ("<a/><?xml version=\"1.0\"?>", "xml_malformed"),
            ("<!-- c --><?xml version=\"1.0\"?><a/>", "xml_malformed"),
            ("<a><![CDATA[x</a>", "xml_malformed"),
            ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>", "xml_not_utf8"),
        ];
        for (doc, code) in cases {
            let err = parse(doc).expect_err(doc);
            assert_eq!(err.code(), *code, "{doc}: {err}");
        }
        assert_eq!(parse_document(b"<a>\xff</a>", &Limits::default()).unwrap_err().code(), "xml_not_utf8");
        assert_eq!(parse_document(b"\xff\xfe<\0a\0/\0>\0", &Limits::default()).unwrap_err().code(), "xml_not_utf8");
    }

    #[test]
    fn enforces_limits() {
        let limits = Limits { max_bytes: 100, max_depth: 3, max_elements: 4, ..Limits::default() };
        assert_eq!(parse_document(&[b' '; 101], &limits).unwrap_err().code(), "xml_too_large");
        assert_eq!(parse_document(b"<a><b><c><d/></c></b></a>", &limits).unwrap_err().code(), "xml_too_deep");
        assert!(parse_document(b"<a><b><c/></b></a>", &limits).is_ok());
        assert_eq!(parse_document(b"<a><b/><b/><b/><b/></a>", &limits).unwrap_err().code(), "xml_too_many_elements");
    }

    #[test]
    fn attribute_whitespace_is_normalized() {
        let e = parse("<a b=\"x\r\ny\tz&#10;\"/>").unwrap();
        assert_eq!(e.attrs[0].1, "x y z\n");
    }

    #[test]
    fn writer_escapes_and_round_trips() {
        let mut w = XmlWriter::new();
        w.root("R", &[("A", Some("a\"<&>\n\u{0}b")), ("Skip", None)]);
        w.text_element("T", &[], "x<&>y\u{1}");
        let doc = w.finish();
        let e = parse(&doc).unwrap();
        assert_eq!(e.attrs.iter().find(|(k, _)| k == "A").unwrap().1, "a\"<&>\nb");
        assert_eq!(e.child("T").unwrap().text, "x<&>y");
    }

    #[test]
    fn dates_amounts_and_integers() {
        assert_eq!(parse_date("d", "2024-02-29").unwrap(), jiff::civil::date(2024, 2, 29));
        assert_eq!(parse_date("d", "2024-02-29T12:00:00").unwrap(), jiff::civil::date(2024, 2, 29));
        for bad in ["2023-02-29", "2024-2-01", "20240201", "", "2024-02-01x", "+024-02-01"] {
            assert!(parse_date("d", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_amount("a", "1250000.50").unwrap(), Decimal::new(125000050, 2));
        for bad in ["-1", "1e5", "", ".", "1,5", "NaN"] {
            assert!(parse_amount("a", bad).is_err(), "{bad}");
        }
        assert_eq!(parse_uint::<u8>("n", "255").unwrap(), 255);
        assert!(parse_uint::<u8>("n", "256").is_err());
        assert!(parse_uint::<u32>("n", "-1").is_err());
        assert_eq!(fmt_amount(&Decimal::new(10000, 2)), "100");
    }
}
