//! Client IP: the address of the browser that sent a beacon, believed only as far as configured
//! trusted proxies vouch for it.
//!
//! Each deployment configures a list of trusted proxies ([`TrustedProxies`], CIDRs or bare IPs) and
//! exactly one [`ClientIpSource`]: the `X-Forwarded-For` chain (the default), RFC 7239 `Forwarded`, or one
//! named single-address header set by a CDN (`CF-Connecting-IP`, `True-Client-IP`,
//! `Fastly-Client-IP`). [`ClientIpResolver::resolve`] then applies these rules:
//!
//! - If the socket peer is not a trusted proxy, the peer *is* the client and every forwarding header
//!   is ignored: anyone can write `X-Forwarded-For`, so it means something only when our own proxy
//!   wrote it.
//! - If the peer is trusted, the chain is walked from the right (the hop our proxy appended last),
//!   across all header lines in order, skipping trusted hops; the first untrusted hop is the client.
//!   If every hop is trusted the leftmost one is used.
//! - A hop that is not an address (`unknown`, an obfuscated `_name`, garbage, or the walk passing
//!   [`MAX_WALKED_HOPS`]) stops the walk. Everything left of it was written by someone we cannot
//!   vouch for, so the answer is the last good hop to its right: a trusted proxy, possibly the peer
//!   itself. That is the most recent address we know to be true; GeoIP then places the proxy rather
//!   than an address an attacker chose. Such results are counted as
//!   [`ClientIpOrigin::UnusableHop`].
//! - A named header is used only when the peer is trusted and the header holds exactly one address.
//!
//! After the GeoIP lookup the address is dropped or truncated ([`IpPrivacy`]). Nothing in this module
//! may log, format or label a raw client address: [`ResolvedClientIp`]'s `Debug` shows only the
//! truncated network, and errors name configuration entries (proxy ranges), never client input.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::ControlFlow;
use std::str::FromStr;

use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

/// The walk gives up after this many non-empty hops: no real deployment has more proxies than this,
/// and a header stuffed with thousands of trusted-looking hops must not buy unbounded work.
pub const MAX_WALKED_HOPS: usize = 32;

/// IPv4 addresses are truncated to their /24 (256 addresses: a street, not a house).
pub const IPV4_TRUNCATED_PREFIX_LEN: u8 = 24;

/// IPv6 addresses are truncated to their /48, the usual allocation to one site.
pub const IPV6_TRUNCATED_PREFIX_LEN: u8 = 48;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Configuration errors. They name the offending configuration entry, never a client address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientIpError {
    /// A trusted proxy entry is neither an IP address nor a CIDR.
    #[error("trusted proxy entry `{entry}` is not an IP address or CIDR: {reason}")]
    InvalidTrustedProxy {
        /// The entry as configured.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configured client IP header is not a valid HTTP header name.
    #[error("client ip header `{name}` is not a valid http header name")]
    InvalidHeaderName {
        /// The name as configured.
        name: String,
    },
}

/// An IP network: an address with its host bits cleared and a prefix length (an [`IpNet`]).
///
/// IPv4-mapped IPv6 networks (`::ffff:10.0.0.0/104`) are stored as the IPv4 network they denote,
/// so that they match the (canonicalised) IPv4 peers they are meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork(IpNet);

impl IpNetwork {
    /// The network of `prefix_len` bits containing `address`; `None` if the prefix is longer than
    /// the address (32 for IPv4, 128 for IPv6).
    pub fn new(address: IpAddr, prefix_len: u8) -> Option<Self> {
        let (address, prefix_len) = match address {
            IpAddr::V6(v6) if (96..=128).contains(&prefix_len) => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix_len - 96),
                None => (address, prefix_len),
            },
            _ => (address, prefix_len),
        };
        IpNet::new(address, prefix_len)
            .ok()
            .map(|network| Self(network.trunc()))
    }

    /// The network address (host bits cleared).
    pub fn address(&self) -> IpAddr {
        self.0.addr()
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether `ip` (IPv4-mapped IPv6 counts as IPv4) lies in this network. An IPv4 network never
    /// contains an IPv6 address and the other way round, whatever the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, formatter)
    }
}

impl FromStr for IpNetwork {
    type Err = &'static str;

    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128). Host bits set below the
    /// prefix (`10.1.2.3/8`) are cleared rather than rejected: the intent is unambiguous.
    ///
    /// Read here rather than by `IpNet::from_str`, which refuses bare addresses and gives one error
    /// for every mistake; the configuration error should say which part is wrong.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address_text, prefix_text) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address_text.parse().map_err(|_| "not an ip address")?;
        let max_prefix_len = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix_text {
            None => max_prefix_len,
            Some(prefix) => {
                if prefix.is_empty() || !prefix.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err("prefix length is not a number");
                }
                prefix
                    .parse::<u8>()
                    .ok()
                    .filter(|length| *length <= max_prefix_len)
                    .ok_or("prefix length is longer than the address")?
            }
        };
        Self::new(address, prefix_len).ok_or("prefix length is longer than the address")
    }
}

/// The proxies whose forwarding headers we believe. Empty (the default) trusts nobody, so the socket
/// peer is always the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNetwork>,
}

impl TrustedProxies {
    /// Parses CIDRs and bare addresses, IPv4 and IPv6. Surrounding whitespace is ignored; the first
    /// bad entry is named in the error.
    pub fn parse<I, S>(entries: I) -> Result<Self, ClientIpError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut networks = Vec::new();
        for entry in entries {
            let entry = entry.as_ref();
            let trimmed = entry.trim();
            let parsed = if trimmed.is_empty() {
                Err("entry is empty")
            } else {
                trimmed.parse::<IpNetwork>()
            };
            match parsed {
                Ok(network) => networks.push(network),
                Err(reason) => {
                    return Err(ClientIpError::InvalidTrustedProxy {
                        entry: entry.to_owned(),
                        reason,
                    });
                }
            }
        }
        Ok(Self { networks })
    }

    /// Whether `ip` is in one of the trusted networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(ip))
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// The configured networks, normalised.
    pub fn networks(&self) -> &[IpNetwork] {
        &self.networks
    }
}

/// Where a deployment's proxies put the client address. One per deployment: accepting several would
/// let a client pick whichever one its proxy does not overwrite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The `X-Forwarded-For` chain (plain load balancers, CloudFront, nginx, most proxies).
    #[default]
    XForwardedFor,
    /// The RFC 7239 `Forwarded` header's `for=` parameters.
    Forwarded,
    /// One header holding exactly one address (`CF-Connecting-IP`, `True-Client-IP`,
    /// `Fastly-Client-IP`, ...), set by a CDN that overwrites whatever the client sent.
    Header(HeaderName),
}

impl ClientIpSource {
    /// A named single-address header source.
    pub fn header(name: &str) -> Result<Self, ClientIpError> {
        HeaderName::from_bytes(name.trim().as_bytes())
            .map(Self::Header)
            .map_err(|_| ClientIpError::InvalidHeaderName {
                name: name.to_owned(),
            })
    }

    /// The header this source reads.
    pub fn header_name(&self) -> &HeaderName {
        match self {
            Self::XForwardedFor => &X_FORWARDED_FOR,
            Self::Forwarded => &http::header::FORWARDED,
            Self::Header(name) => name,
        }
    }
}

impl FromStr for ClientIpSource {
    type Err = ClientIpError;

    /// `x-forwarded-for` and `forwarded` (any case) select the chain forms; any other header name is
    /// a single-address header.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("x-forwarded-for") {
            Ok(Self::XForwardedFor)
        } else if trimmed.eq_ignore_ascii_case("forwarded") {
            Ok(Self::Forwarded)
        } else {
            Self::header(trimmed)
        }
    }
}

/// Where a resolved client address came from. [`ClientIpOrigin::as_str`] gives the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientIpOrigin {
    /// The socket peer is not a trusted proxy and sent no forwarding header: a direct client.
    Peer,
    /// The socket peer is not a trusted proxy but sent the configured forwarding header, which was
    /// ignored. Either a spoofing attempt or a proxy missing from the trusted list.
    PeerHeaderIgnored,
    /// The socket peer is a trusted proxy but the configured header was absent or empty, so the
    /// peer's own address is used.
    TrustedPeer,
    /// The rightmost untrusted hop of `X-Forwarded-For` (or its leftmost hop if all are trusted).
    XForwardedFor,
    /// The rightmost untrusted `for=` of `Forwarded` (or its leftmost if all are trusted).
    Forwarded,
    /// The configured single-address header.
    Header,
    /// The walk met a hop that is not an address (or a repeated or unparseable named header), and the
    /// last good trusted hop to its right (possibly the peer) was used.
    UnusableHop,
}

impl ClientIpOrigin {
    /// Every origin, so callers can register one counter per label up front.
    pub const ALL: [Self; 7] = [
        Self::Peer,
        Self::PeerHeaderIgnored,
        Self::TrustedPeer,
        Self::XForwardedFor,
        Self::Forwarded,
        Self::Header,
        Self::UnusableHop,
    ];

    /// The stable, lowercase metric label for this origin.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Peer => "peer",
            Self::PeerHeaderIgnored => "peer_header_ignored",
            Self::TrustedPeer => "trusted_peer",
            Self::XForwardedFor => "x_forwarded_for",
            Self::Forwarded => "forwarded",
            Self::Header => "header",
            Self::UnusableHop => "unusable_hop",
        }
    }
}

/// A client address and where it came from. IPv4-mapped IPv6 addresses are returned as IPv4.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResolvedClientIp {
    /// The client address. Use it for the GeoIP lookup, then drop or truncate it.
    pub ip: IpAddr,
    /// Which source gave it.
    pub origin: ClientIpOrigin,
}

impl fmt::Debug for ResolvedClientIp {
    /// Shows only the truncated network, so that `?resolved` in a log line cannot leak the address.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ResolvedClientIp")
            .field("network", &truncated_network(self.ip))
            .field("origin", &self.origin)
            .finish()
    }
}

/// Picks the client address from the socket peer and headers, trusting only configured proxies.
#[derive(Clone, Debug, Default)]
pub struct ClientIpResolver {
    trusted: TrustedProxies,
    source: ClientIpSource,
}

impl ClientIpResolver {
    /// A resolver believing `source` when, and only when, it comes from one of `trusted`.
    pub fn new(trusted: TrustedProxies, source: ClientIpSource) -> Self {
        Self { trusted, source }
    }

    /// The configured source.
    pub fn source(&self) -> &ClientIpSource {
        &self.source
    }

    /// The client address for a request from `peer` carrying `headers`. Never fails: the peer is
    /// always an answer we can vouch for.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> ResolvedClientIp {
        let peer = peer.to_canonical();
        if !self.trusted.contains(peer) {
            let origin = if headers.contains_key(self.source.header_name()) {
                ClientIpOrigin::PeerHeaderIgnored
            } else {
                ClientIpOrigin::Peer
            };
            return ResolvedClientIp { ip: peer, origin };
        }
        match &self.source {
            ClientIpSource::XForwardedFor => {
                let mut walk = ChainWalk::new(&self.trusted, peer, ClientIpOrigin::XForwardedFor);
                match walk_x_forwarded_for(&mut walk, headers) {
                    ControlFlow::Break(resolved) => resolved,
                    ControlFlow::Continue(()) => walk.finish(),
                }
            }
            ClientIpSource::Forwarded => {
                let mut walk = ChainWalk::new(&self.trusted, peer, ClientIpOrigin::Forwarded);
                match walk_forwarded(&mut walk, headers) {
                    ControlFlow::Break(resolved) => resolved,
                    ControlFlow::Continue(()) => walk.finish(),
                }
            }
            ClientIpSource::Header(name) => single_address_header(peer, headers.get_all(name)),
        }
    }
}

/// One entry of a forwarding chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hop {
    Address(IpAddr),
    /// `unknown`, an obfuscated identifier, or anything that does not parse.
    Unusable,
}

/// The right-to-left walk over a forwarding chain, fed one hop at a time so that no chain is ever
/// collected into memory for `X-Forwarded-For`.
struct ChainWalk<'t> {
    trusted: &'t TrustedProxies,
    /// The most recent address we can vouch for: the peer, then each trusted hop passed.
    last_trusted: IpAddr,
    /// Whether `last_trusted` came from the header rather than the socket.
    passed_a_hop: bool,
    walked: usize,
    origin: ClientIpOrigin,
}

impl<'t> ChainWalk<'t> {
    fn new(trusted: &'t TrustedProxies, peer: IpAddr, origin: ClientIpOrigin) -> Self {
        Self {
            trusted,
            last_trusted: peer,
            passed_a_hop: false,
            walked: 0,
            origin,
        }
    }

    fn visit(&mut self, hop: Hop) -> ControlFlow<ResolvedClientIp> {
        self.walked += 1;
        if self.walked > MAX_WALKED_HOPS {
            return ControlFlow::Break(self.stopped());
        }
        match hop {
            Hop::Address(ip) if self.trusted.contains(ip) => {
                self.last_trusted = ip;
                self.passed_a_hop = true;
                ControlFlow::Continue(())
            }
            Hop::Address(ip) => ControlFlow::Break(ResolvedClientIp {
                ip,
                origin: self.origin,
            }),
            Hop::Unusable => ControlFlow::Break(self.stopped()),
        }
    }

    fn stopped(&self) -> ResolvedClientIp {
        ResolvedClientIp {
            ip: self.last_trusted,
            origin: ClientIpOrigin::UnusableHop,
        }
    }

    /// The chain ended without an untrusted hop: all hops were trusted (use the leftmost), or there
    /// were none (use the peer).
    fn finish(&self) -> ResolvedClientIp {
        let origin = if self.passed_a_hop {
            self.origin
        } else {
            ClientIpOrigin::TrustedPeer
        };
        ResolvedClientIp {
            ip: self.last_trusted,
            origin,
        }
    }
}

fn walk_x_forwarded_for(
    walk: &mut ChainWalk<'_>,
    headers: &HeaderMap,
) -> ControlFlow<ResolvedClientIp> {
    // Later header lines were appended by later proxies, so the walk goes over lines right to left too.
    for line in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = line.to_str() else {
            walk.visit(Hop::Unusable)?;
            continue;
        };
        for element in text.rsplit(',') {
            let element = element.trim();
            // Empty elements (`, 203.0.113.7` from a proxy appending to an empty header) carry no
            // address and no claim; skipping them cannot let a client choose the answer.
            if !element.is_empty() {
                walk.visit(parse_node(element))?;
            }
        }
    }
    ControlFlow::Continue(())
}

fn walk_forwarded(walk: &mut ChainWalk<'_>, headers: &HeaderMap) -> ControlFlow<ResolvedClientIp> {
    for line in headers.get_all(http::header::FORWARDED).iter().rev() {
        let Ok(text) = line.to_str() else {
            walk.visit(Hop::Unusable)?;
            continue;
        };
        // Quoted strings may contain commas, so elements cannot be split from the right; this header
        // is the less common choice, and one small vector per line is affordable.
        let elements: Vec<&str> = SplitUnquoted::new(text, b',').collect();
        for element in elements.into_iter().rev() {
            if !element.trim().is_empty() {
                walk.visit(forwarded_element_hop(element))?;
            }
        }
    }
    ControlFlow::Continue(())
}

/// The `for=` node of one `Forwarded` element. An element without exactly one `for=` (a proxy that
/// chose not to disclose, or a malformed one) is unusable: we cannot tell who it forwarded for.
fn forwarded_element_hop(element: &str) -> Hop {
    let mut node = None;
    for pair in SplitUnquoted::new(element, b';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((name, value)) = pair.split_once('=') else {
            return Hop::Unusable;
        };
        if !name.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if node.is_some() {
            return Hop::Unusable;
        }
        node = Some(value.trim());
    }
    let Some(value) = node else {
        return Hop::Unusable;
    };
    match unquote(value) {
        Some(unquoted) => parse_node(&unquoted),
        None => Hop::Unusable,
    }
}

/// A `Forwarded` value: a token as is, or a quoted-string with its backslash escapes undone.
fn unquote(value: &str) -> Option<std::borrow::Cow<'_, str>> {
    let Some(inner) = value.strip_prefix('"') else {
        return (!value.contains('"')).then_some(std::borrow::Cow::Borrowed(value));
    };
    let inner = inner.strip_suffix('"')?;
    if !inner.contains('\\') {
        return (!inner.contains('"')).then_some(std::borrow::Cow::Borrowed(inner));
    }
    let mut unescaped = String::with_capacity(inner.len());
    let mut characters = inner.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => unescaped.push(characters.next()?),
            '"' => return None,
            other => unescaped.push(other),
        }
    }
    Some(std::borrow::Cow::Owned(unescaped))
}

/// Splits on `separator` outside double-quoted strings (with backslash escapes). An unterminated
/// quote runs to the end of the text, where it fails to unquote and becomes an unusable hop.
struct SplitUnquoted<'a> {
    rest: Option<&'a str>,
    separator: u8,
}

impl<'a> SplitUnquoted<'a> {
    fn new(text: &'a str, separator: u8) -> Self {
        Self {
            rest: Some(text),
            separator,
        }
    }
}

impl<'a> Iterator for SplitUnquoted<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let bytes = text.as_bytes();
        let mut in_quotes = false;
        let mut index = 0;
        while index < bytes.len() {
            match bytes[index] {
                b'\\' if in_quotes => index += 1,
                b'"' => in_quotes = !in_quotes,
                byte if byte == self.separator && !in_quotes => {
                    // The separator is ASCII, so both slices end on character boundaries.
                    self.rest = text.get(index + 1..);
                    return text.get(..index);
                }
                _ => {}
            }
            index += 1;
        }
        self.rest = None;
        Some(text)
    }
}

/// One node: `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`, with a numeric or obfuscated (`_abc`) port. `unknown`, obfuscated
/// identifiers (`_hidden`), zone ids and anything else are unusable.
fn parse_node(text: &str) -> Hop {
    let address = if let Some(bracketed) = text.strip_prefix('[') {
        bracketed.split_once(']').and_then(|(inside, after)| {
            let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_valid_port);
            port_ok
                .then(|| inside.parse::<Ipv6Addr>().ok())
                .flatten()
                .map(IpAddr::V6)
        })
    } else if let Ok(address) = text.parse::<IpAddr>() {
        Some(address)
    } else {
        // Only IPv4 may carry a port without brackets; a bare IPv6 address has several colons and
        // already parsed above.
        text.split_once(':').and_then(|(host, port)| {
            is_valid_port(port)
                .then(|| host.parse::<Ipv4Addr>().ok())
                .flatten()
                .map(IpAddr::V4)
        })
    };
    match address {
        Some(address) => Hop::Address(address.to_canonical()),
        None => Hop::Unusable,
    }
}

fn is_valid_port(port: &str) -> bool {
    let numeric = (1..=5).contains(&port.len()) && port.bytes().all(|byte| byte.is_ascii_digit());
    let obfuscated = port.len() > 1
        && port.starts_with('_')
        && port
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    numeric || obfuscated
}

/// A CDN's single-address header from a trusted peer. More than one line, or a value that is not one
/// address, is unusable: the CDN sets exactly one, so anything else was tampered with or misrouted.
fn single_address_header(
    peer: IpAddr,
    lines: http::header::GetAll<'_, HeaderValue>,
) -> ResolvedClientIp {
    let mut values = lines.iter();
    let Some(first) = values.next() else {
        return ResolvedClientIp {
            ip: peer,
            origin: ClientIpOrigin::TrustedPeer,
        };
    };
    if values.next().is_some() {
        return ResolvedClientIp {
            ip: peer,
            origin: ClientIpOrigin::UnusableHop,
        };
    }
    let text = first.to_str().unwrap_or("").trim();
    if text.is_empty() {
        return ResolvedClientIp {
            ip: peer,
            origin: ClientIpOrigin::TrustedPeer,
        };
    }
    match parse_node(text) {
        Hop::Address(ip) => ResolvedClientIp {
            ip,
            origin: ClientIpOrigin::Header,
        },
        Hop::Unusable => ResolvedClientIp {
            ip: peer,
            origin: ClientIpOrigin::UnusableHop,
        },
    }
}

/// What becomes of the client address once GeoIP has used it: the configuration's own type (one
/// fact, one place), read from `enrich.ip_privacy` and each site's `ip_privacy`. What each mode
/// does is [`IpPrivacyExt::apply`].
pub use rum_config::IpPrivacyMode as IpPrivacy;

/// The behaviour of an [`IpPrivacy`] mode.
pub trait IpPrivacyExt {
    /// What may be kept of `ip`: nothing, or its truncated network as text.
    fn apply(self, ip: IpAddr) -> Option<String>;
}

impl IpPrivacyExt for IpPrivacy {
    fn apply(self, ip: IpAddr) -> Option<String> {
        match self {
            Self::Drop => None,
            Self::Truncate => Some(truncated_network(ip)),
        }
    }
}

/// The network `ip` is truncated to: `203.0.113.0/24` or `2001:db8:1::/48`. IPv4-mapped IPv6 is
/// treated as the IPv4 address it carries.
pub fn truncated_network(ip: IpAddr) -> String {
    let canonical = ip.to_canonical();
    let prefix_len = match canonical {
        IpAddr::V4(_) => IPV4_TRUNCATED_PREFIX_LEN,
        IpAddr::V6(_) => IPV6_TRUNCATED_PREFIX_LEN,
    };
    IpNetwork::new(canonical, prefix_len)
        .map(|network| network.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientIpOrigin::{
        Forwarded, Header, Peer, PeerHeaderIgnored, TrustedPeer, UnusableHop, XForwardedFor,
    };

    const CLOUDFLARE_RANGES: [&str; 3] = ["173.245.48.0/20", "103.21.244.0/22", "2400:cb00::/32"];

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    fn resolver(trusted: &[&str], source: ClientIpSource) -> ClientIpResolver {
        ClientIpResolver::new(
            TrustedProxies::parse(trusted).expect("test trusted list"),
            source,
        )
    }

    fn named_header(name: &str) -> ClientIpSource {
        ClientIpSource::header(name).expect("valid name")
    }

    /// One `X-Forwarded-For` line.
    fn xff(value: &str) -> [(&str, &str); 1] {
        [("x-forwarded-for", value)]
    }

    /// One `Forwarded` line.
    fn fwd(value: &str) -> [(&str, &str); 1] {
        [("forwarded", value)]
    }

    /// One request's header lines, and what it must resolve to: the client address and where it
    /// came from.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, ClientIpOrigin);

    /// Resolves each case as a request from `peer` and checks the answer.
    fn check(resolver: &ClientIpResolver, peer: &str, cases: &[Case<'_>]) {
        for &(pairs, expected_ip, expected_origin) in cases {
            let resolved = resolver.resolve(ip(peer), &headers(pairs));
            assert_eq!(
                (resolved.ip, resolved.origin),
                (ip(expected_ip), expected_origin),
                "peer {peer}, headers {pairs:?}"
            );
        }
    }

    /// Which addresses `trusted` contains: `(address, contained)`.
    fn check_contains(trusted: &TrustedProxies, cases: &[(&str, bool)]) {
        for &(address, expected) in cases {
            assert_eq!(trusted.contains(ip(address)), expected, "{address}");
        }
    }

    // --- trusted proxy list ---

    #[test]
    fn trusted_list_accepts_cidrs_and_bare_addresses() {
        let trusted = TrustedProxies::parse([
            "10.0.0.0/8",
            " 192.168.1.10 ",
            "2001:db8::/32",
            "::1",
            "172.16.5.4/12",
        ])
        .expect("valid list");
        check_contains(
            &trusted,
            &[
                ("10.255.0.1", true),
                ("192.168.1.10", true),
                ("192.168.1.11", false),
                ("2001:db8:ffff::1", true),
                ("2001:db9::1", false),
                ("::1", true),
                // Host bits below the prefix are cleared, not rejected.
                ("172.31.255.255", true),
            ],
        );
        assert_eq!(trusted.networks()[4].to_string(), "172.16.0.0/12");
    }

    #[test]
    fn trusted_list_matches_ipv4_mapped_ipv6_both_ways() {
        let trusted =
            TrustedProxies::parse(["10.0.0.0/8", "::ffff:192.168.0.0/112"]).expect("valid list");
        check_contains(
            &trusted,
            &[("::ffff:10.1.2.3", true), ("192.168.7.7", true)],
        );
        assert_eq!(trusted.networks()[1].to_string(), "192.168.0.0/16");
    }

    #[test]
    fn zero_prefixes_match_their_whole_family_only() {
        let trusted = TrustedProxies::parse(["0.0.0.0/0"]).expect("valid list");
        check_contains(&trusted, &[("203.0.113.9", true), ("2001:db8::1", false)]);
        let trusted = TrustedProxies::parse(["::/0"]).expect("valid list");
        check_contains(&trusted, &[("2001:db8::1", true), ("203.0.113.9", false)]);
    }

    #[test]
    fn trusted_list_errors_name_the_bad_entry() {
        for (entry, reason) in [
            ("10.0.0.0/33", "prefix length is longer than the address"),
            ("2001:db8::/129", "prefix length is longer than the address"),
            ("10.0.0.0/", "prefix length is not a number"),
            ("10.0.0.0/+8", "prefix length is not a number"),
            ("10.0.0.0/8/8", "prefix length is not a number"),
            ("10.0.0", "not an ip address"),
            ("proxy.internal", "not an ip address"),
            ("fe80::1%eth0", "not an ip address"),
            ("   ", "entry is empty"),
        ] {
            let error = TrustedProxies::parse(["10.0.0.1", entry]).expect_err(entry);
            assert_eq!(
                error,
                ClientIpError::InvalidTrustedProxy {
                    entry: entry.to_owned(),
                    reason
                }
            );
            assert!(error.to_string().contains(&format!("`{entry}`")), "{error}");
        }
    }

    // --- source configuration ---

    #[test]
    fn source_names_parse() {
        let cloudflare = HeaderName::from_static("cf-connecting-ip");
        for (text, expected) in [
            ("X-Forwarded-For", Ok(ClientIpSource::XForwardedFor)),
            ("forwarded", Ok(ClientIpSource::Forwarded)),
            ("CF-Connecting-IP", Ok(ClientIpSource::Header(cloudflare))),
            (
                "bad header",
                Err(ClientIpError::InvalidHeaderName {
                    name: "bad header".to_owned(),
                }),
            ),
        ] {
            assert_eq!(text.parse::<ClientIpSource>(), expected, "{text}");
        }
        assert_eq!(ClientIpSource::default(), ClientIpSource::XForwardedFor);
    }

    // --- untrusted peers: headers are ignored ---

    #[test]
    fn untrusted_peer_is_the_client_without_headers() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        check(&resolver, "203.0.113.7", &[(&[], "203.0.113.7", Peer)]);
    }

    #[test]
    fn spoofed_x_forwarded_for_from_untrusted_peer_is_ignored() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        check(
            &resolver,
            "203.0.113.7",
            &[(&xff("1.2.3.4, 10.0.0.1"), "203.0.113.7", PeerHeaderIgnored)],
        );
    }

    #[test]
    fn spoofed_forwarded_and_named_headers_from_untrusted_peer_are_ignored() {
        let forwarded = resolver(&["10.0.0.0/8"], ClientIpSource::Forwarded);
        check(
            &forwarded,
            "198.51.100.1",
            &[(&fwd("for=1.2.3.4"), "198.51.100.1", PeerHeaderIgnored)],
        );
        let cloudflare = resolver(&CLOUDFLARE_RANGES, named_header("CF-Connecting-IP"));
        let spoofed = [("cf-connecting-ip", "1.2.3.4")];
        check(
            &cloudflare,
            "198.51.100.1",
            &[(&spoofed, "198.51.100.1", PeerHeaderIgnored)],
        );
    }

    #[test]
    fn other_sources_headers_do_not_count_as_ignored() {
        // Only the configured header is read; a stray X-Forwarded-For on a Cloudflare deployment is
        // neither used nor worth counting as a spoofing attempt.
        let cloudflare = resolver(&CLOUDFLARE_RANGES, named_header("CF-Connecting-IP"));
        let stray = xff("1.2.3.4");
        check(
            &cloudflare,
            "198.51.100.1",
            &[(&stray, "198.51.100.1", Peer)],
        );
        check(
            &cloudflare,
            "173.245.48.1",
            &[(&stray, "173.245.48.1", TrustedPeer)],
        );
    }

    #[test]
    fn nothing_trusted_means_the_peer_always_wins() {
        let resolver = ClientIpResolver::default();
        check(
            &resolver,
            "10.0.0.1",
            &[(&xff("1.2.3.4"), "10.0.0.1", PeerHeaderIgnored)],
        );
    }

    // --- X-Forwarded-For chains ---

    #[test]
    fn x_forwarded_for_single_hop() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        check(
            &resolver,
            "10.0.0.1",
            &[(&xff("203.0.113.7"), "203.0.113.7", XForwardedFor)],
        );
    }

    #[test]
    fn x_forwarded_for_takes_rightmost_untrusted_hop_not_leftmost() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        // The client prepended 1.2.3.4 itself; our proxies appended 203.0.113.7 and 10.1.1.1.
        let chain = xff("1.2.3.4, 203.0.113.7, 10.1.1.1");
        check(
            &resolver,
            "10.0.0.1",
            &[(&chain, "203.0.113.7", XForwardedFor)],
        );
    }

    #[test]
    fn x_forwarded_for_lines_are_concatenated_in_order() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        let client_in_first_line = [
            ("x-forwarded-for", "1.2.3.4, 203.0.113.7"),
            ("x-forwarded-for", "10.2.2.2,10.3.3.3"),
        ];
        let client_in_last_line = [
            ("x-forwarded-for", "10.9.9.9"),
            ("x-forwarded-for", "198.51.100.2"),
        ];
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&client_in_first_line, "203.0.113.7", XForwardedFor),
                (&client_in_last_line, "198.51.100.2", XForwardedFor),
            ],
        );
    }

    #[test]
    fn x_forwarded_for_all_trusted_uses_leftmost() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        check(
            &resolver,
            "10.0.0.1",
            &[(&xff("10.5.5.5, 10.6.6.6"), "10.5.5.5", XForwardedFor)],
        );
    }

    #[test]
    fn x_forwarded_for_absent_or_empty_uses_trusted_peer() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&[], "10.0.0.1", TrustedPeer),
                (&xff(" , ,"), "10.0.0.1", TrustedPeer),
            ],
        );
    }

    #[test]
    fn x_forwarded_for_skips_empty_elements() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        let sparse = xff(", 203.0.113.7,, 10.1.1.1 ,");
        check(
            &resolver,
            "10.0.0.1",
            &[(&sparse, "203.0.113.7", XForwardedFor)],
        );
    }

    #[test]
    fn x_forwarded_for_with_ports_and_ipv6() {
        let resolver = resolver(&["10.0.0.0/8", "fd00::/8"], ClientIpSource::XForwardedFor);
        check(
            &resolver,
            "fd00::2",
            &[
                (&xff("203.0.113.7:51234"), "203.0.113.7", XForwardedFor),
                (&xff("2001:db8::7"), "2001:db8::7", XForwardedFor),
                (&xff("[2001:db8::7]"), "2001:db8::7", XForwardedFor),
                (&xff("[2001:db8::7]:443"), "2001:db8::7", XForwardedFor),
                (&xff("2001:db8::7, fd00::1"), "2001:db8::7", XForwardedFor),
                (&xff("::ffff:203.0.113.7"), "203.0.113.7", XForwardedFor),
            ],
        );
    }

    #[test]
    fn ipv4_mapped_peer_is_matched_and_returned_as_ipv4() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        check(
            &resolver,
            "::ffff:10.0.0.1",
            &[(&xff("203.0.113.7"), "203.0.113.7", XForwardedFor)],
        );
        check(
            &resolver,
            "::ffff:203.0.113.9",
            &[(&[], "203.0.113.9", Peer)],
        );
    }

    #[test]
    fn x_forwarded_for_malformed_hop_stops_at_last_good_hop() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        // Garbage right of a trusted hop: the trusted hop is the last address we can vouch for.
        let behind_trusted = xff("203.0.113.7, not-an-ip, 10.1.1.1");
        check(
            &resolver,
            "10.0.0.1",
            &[(&behind_trusted, "10.1.1.1", UnusableHop)],
        );
        // Garbage as the rightmost hop: only the peer is known.
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&xff("203.0.113.7, unknown"), "10.0.0.1", UnusableHop),
                (&xff("203.0.113.7, _hidden"), "10.0.0.1", UnusableHop),
                (&xff("203.0.113.7, 1.2.3.4.5"), "10.0.0.1", UnusableHop),
                (
                    &xff("203.0.113.7, 1.2.3.4:99999999"),
                    "10.0.0.1",
                    UnusableHop,
                ),
                (&xff("203.0.113.7, 1.2.3.4:"), "10.0.0.1", UnusableHop),
                (&xff("203.0.113.7, [2001:db8::1"), "10.0.0.1", UnusableHop),
                (&xff("203.0.113.7, [2001:db8::1]x"), "10.0.0.1", UnusableHop),
                (&xff("203.0.113.7, fe80::1%eth0"), "10.0.0.1", UnusableHop),
                (&xff("203.0.113.7, \"1.2.3.4\""), "10.0.0.1", UnusableHop),
            ],
        );
    }

    #[test]
    fn x_forwarded_for_with_non_ascii_bytes_is_unusable() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        let mut map = HeaderMap::new();
        map.append(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_bytes(b"203.0.113.7, 1.2.3.4\xff").expect("obs-text is allowed"),
        );
        let resolved = resolver.resolve(ip("10.0.0.1"), &map);
        assert_eq!(
            (resolved.ip, resolved.origin),
            (ip("10.0.0.1"), ClientIpOrigin::UnusableHop)
        );
    }

    #[test]
    fn walk_is_bounded() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::XForwardedFor);
        let many_trusted = vec!["10.0.0.9"; MAX_WALKED_HOPS + 5].join(", ");
        let too_long = format!("203.0.113.7, {many_trusted}");
        let just_enough = vec!["10.0.0.9"; MAX_WALKED_HOPS - 1].join(", ");
        let long_enough = format!("203.0.113.7, {just_enough}");
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&xff(&too_long), "10.0.0.9", UnusableHop),
                (&xff(&long_enough), "203.0.113.7", XForwardedFor),
            ],
        );
    }

    // --- RFC 7239 Forwarded ---

    #[test]
    fn forwarded_simple_and_with_other_parameters() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::Forwarded);
        let client = "203.0.113.7";
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&fwd("for=203.0.113.7"), client, Forwarded),
                (&fwd("For=203.0.113.7"), client, Forwarded),
                (&fwd("for=\"203.0.113.7\""), client, Forwarded),
                (&fwd("for=\"203.0.113.7:4711\""), client, Forwarded),
                (
                    &fwd("for=203.0.113.7;proto=https;by=10.0.0.1"),
                    client,
                    Forwarded,
                ),
                (
                    &fwd("proto=https; for=203.0.113.7 ;host=example.com"),
                    client,
                    Forwarded,
                ),
                (&fwd("for=\"203.0.113.7:_abc\""), client, Forwarded),
            ],
        );
    }

    #[test]
    fn forwarded_quoted_ipv6_with_port() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::Forwarded);
        let client = "2001:db8:cafe::17";
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&fwd("for=\"[2001:db8:cafe::17]:4711\""), client, Forwarded),
                (&fwd("for=\"[2001:db8:cafe::17]\""), client, Forwarded),
                (&fwd("for=\"[2001:db8:cafe::17]:_port\""), client, Forwarded),
            ],
        );
    }

    #[test]
    fn forwarded_chain_of_elements_and_lines() {
        let resolver = resolver(&["10.0.0.0/8", "fd00::/8"], ClientIpSource::Forwarded);
        let one_line = fwd("for=1.2.3.4, for=\"[2001:db8::9]:80\";proto=https, for=10.2.2.2");
        let two_lines = [
            ("forwarded", "for=1.2.3.4, for=198.51.100.3"),
            ("forwarded", "for=\"[fd00::5]\""),
        ];
        let all_trusted = fwd("for=10.7.7.7, for=\"[fd00::5]\"");
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&one_line, "2001:db8::9", Forwarded),
                (&two_lines, "198.51.100.3", Forwarded),
                (&all_trusted, "10.7.7.7", Forwarded),
            ],
        );
    }

    #[test]
    fn forwarded_quoted_commas_and_semicolons_do_not_split() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::Forwarded);
        let quoted = fwd("for=1.2.3.4;host=\"a,b;c\", for=203.0.113.7;ext=\"x\\\"y,z\"");
        check(
            &resolver,
            "10.0.0.1",
            &[(&quoted, "203.0.113.7", Forwarded)],
        );
    }

    #[test]
    fn forwarded_unknown_and_obfuscated_stop_the_walk() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::Forwarded);
        let unknown = fwd("for=203.0.113.7, for=unknown, for=10.4.4.4");
        let obfuscated = fwd("for=203.0.113.7, for=_SEVKISEK");
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&unknown, "10.4.4.4", UnusableHop),
                (&obfuscated, "10.0.0.1", UnusableHop),
            ],
        );
    }

    #[test]
    fn forwarded_malformed_elements_are_unusable() {
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::Forwarded);
        check(
            &resolver,
            "10.0.0.1",
            &[
                (&fwd("proto=https"), "10.0.0.1", UnusableHop),
                (
                    &fwd("for=203.0.113.7;for=198.51.100.1"),
                    "10.0.0.1",
                    UnusableHop,
                ),
                (&fwd("for"), "10.0.0.1", UnusableHop),
                (&fwd("for=\"203.0.113.7"), "10.0.0.1", UnusableHop),
                (&fwd("for=\"203.0.113.7\"x"), "10.0.0.1", UnusableHop),
                (&fwd("for=2001:db8::1:80x"), "10.0.0.1", UnusableHop),
                (&fwd("for=\"[2001:db8::1]:80:80\""), "10.0.0.1", UnusableHop),
                (&fwd("by=10.0.0.2;garbage"), "10.0.0.1", UnusableHop),
            ],
        );
    }

    #[test]
    fn forwarded_tolerates_unbracketed_ipv6() {
        // RFC 7239 requires brackets, but the address is unambiguous without a port.
        let resolver = resolver(&["10.0.0.0/8"], ClientIpSource::Forwarded);
        let unbracketed = fwd("for=\"2001:db8::1\"");
        check(
            &resolver,
            "10.0.0.1",
            &[(&unbracketed, "2001:db8::1", Forwarded)],
        );
    }

    // --- named single-address headers ---

    #[test]
    fn named_headers_from_trusted_peers() {
        for name in [
            "CF-Connecting-IP",
            "True-Client-IP",
            "Fastly-Client-IP",
            "X-Real-IP",
        ] {
            let resolver = resolver(&CLOUDFLARE_RANGES, named_header(name));
            let v4 = [(name, "203.0.113.7")];
            let v6 = [(name, " 2001:db8::7 ")];
            check(&resolver, "173.245.48.1", &[(&v4, "203.0.113.7", Header)]);
            check(&resolver, "2400:cb00::1", &[(&v6, "2001:db8::7", Header)]);
        }
    }

    #[test]
    fn named_header_missing_or_unusable_falls_back_to_the_peer() {
        let resolver = resolver(&CLOUDFLARE_RANGES, named_header("cf-connecting-ip"));
        let cf = |value| [("cf-connecting-ip", value)];
        // Two lines: the CDN sets exactly one, so a second one was smuggled in.
        let two_lines = [
            ("cf-connecting-ip", "1.2.3.4"),
            ("cf-connecting-ip", "203.0.113.7"),
        ];
        check(
            &resolver,
            "173.245.48.1",
            &[
                (&[], "173.245.48.1", TrustedPeer),
                (&cf(""), "173.245.48.1", TrustedPeer),
                (&cf("1.2.3.4, 5.6.7.8"), "173.245.48.1", UnusableHop),
                (&cf("unknown"), "173.245.48.1", UnusableHop),
                (&cf("localhost"), "173.245.48.1", UnusableHop),
                (&two_lines, "173.245.48.1", UnusableHop),
            ],
        );
    }

    // --- privacy ---

    #[test]
    fn truncation_keeps_only_the_network() {
        for (address, network) in [
            ("203.0.113.77", "203.0.113.0/24"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"),
            ("::ffff:203.0.113.77", "203.0.113.0/24"),
            ("::1", "::/48"),
        ] {
            assert_eq!(truncated_network(ip(address)), network, "{address}");
        }
        assert_eq!(IpPrivacy::Drop.apply(ip("203.0.113.77")), None);
        assert_eq!(
            IpPrivacy::Truncate.apply(ip("203.0.113.77")).as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(IpPrivacy::default(), IpPrivacy::Drop);
    }

    #[test]
    fn privacy_modes_are_the_config_spelling() {
        // Parsing is serde's, in rum-config (`ip_privacy = "truncate"`; an unknown mode names the
        // key there); the type is the same one.
        assert_eq!(IpPrivacy::Drop.as_str(), "drop");
        assert_eq!(IpPrivacy::Truncate.as_str(), "truncate");
    }

    #[test]
    fn debug_output_never_shows_the_raw_address() {
        let resolved = ResolvedClientIp {
            ip: ip("203.0.113.77"),
            origin: ClientIpOrigin::XForwardedFor,
        };
        let debug = format!("{resolved:?}");
        assert!(!debug.contains("203.0.113.77"), "{debug}");
        assert!(debug.contains("203.0.113.0/24"), "{debug}");
    }

    #[test]
    fn origin_labels_are_stable_lowercase_and_distinct() {
        let labels: Vec<&str> = ClientIpOrigin::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            labels,
            [
                "peer",
                "peer_header_ignored",
                "trusted_peer",
                "x_forwarded_for",
                "forwarded",
                "header",
                "unusable_hop"
            ]
        );
    }
}
