//! Client hints: the `Sec-CH-UA`, `Sec-CH-UA-Mobile`, `Sec-CH-UA-Platform` and
//! `Sec-CH-UA-Platform-Version` headers of one request, read into what the classifier can use (the
//! browser brand, headless Chrome, the mobile flag, the platform and its version).
//!
//! Hints vary per request, so they are read on every call, after the user agent cache. The reader
//! must never panic on hostile input and never read more than it needs: a value longer than
//! [`MAX_HINT_BYTES`] is ignored, a brand list is read for at most `MAX_BRANDS` (8) members, and
//! whatever cannot be read is left out rather than guessed. Like every output of the classifier, a
//! version read here becomes a label only through `bounded_version`.

use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use super::{DeviceClass, WINDOWS_FAMILY, version_label};

/// Client hint header values longer than this are ignored (a real `Sec-CH-UA` is under 150 bytes).
pub const MAX_HINT_BYTES: usize = 256;

/// A `Sec-CH-UA` brand and the uap-core family names it corresponds to.
#[derive(Debug)]
pub(super) struct BrandRule {
    brand: &'static str,
    pub(super) family: &'static str,
    pub(super) mobile_family: &'static str,
}

/// Known brands, most specific first: a browser lists its own brand beside `Chromium` (and Chrome
/// beside `Google Chrome`), so the first known brand in this order wins.
pub(super) const BRANDS: &[BrandRule] = &[
    BrandRule {
        brand: "HeadlessChrome",
        family: "HeadlessChrome",
        mobile_family: "HeadlessChrome",
    },
    BrandRule {
        brand: "Microsoft Edge",
        family: "Edge",
        mobile_family: "Edge Mobile",
    },
    BrandRule {
        brand: "Opera",
        family: "Opera",
        mobile_family: "Opera Mobile",
    },
    BrandRule {
        brand: "Opera GX",
        family: "Opera",
        mobile_family: "Opera Mobile",
    },
    BrandRule {
        brand: "Brave",
        family: "Brave",
        mobile_family: "Brave",
    },
    BrandRule {
        brand: "Samsung Internet",
        family: "Samsung Internet",
        mobile_family: "Samsung Internet",
    },
    BrandRule {
        brand: "YaBrowser",
        family: "Yandex Browser",
        mobile_family: "Yandex Browser",
    },
    BrandRule {
        brand: "Yandex",
        family: "Yandex Browser",
        mobile_family: "Yandex Browser",
    },
    BrandRule {
        brand: "Android WebView",
        family: "Chrome Mobile WebView",
        mobile_family: "Chrome Mobile WebView",
    },
    BrandRule {
        brand: "Google Chrome",
        family: "Chrome",
        mobile_family: "Chrome Mobile",
    },
    BrandRule {
        brand: "Chromium",
        family: "Chromium",
        mobile_family: "Chromium",
    },
];

const HEADLESS_BRAND: &str = "HeadlessChrome";

const CHROMIUM_BRAND: &str = "Chromium";

/// `Sec-CH-UA-Platform` values and the uap-core OS family each corresponds to.
pub(super) const PLATFORMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("macOS", "Mac OS X"),
    ("Android", "Android"),
    ("Linux", "Linux"),
    ("Chrome OS", "Chrome OS"),
    ("Chromium OS", "Chrome OS"),
    ("iOS", "iOS"),
    ("Fuchsia", "Fuchsia"),
];

/// The raw client hint header values of one request (each `None` when absent, not ASCII, or longer
/// than [`MAX_HINT_BYTES`]). Parsed by [`UaClassifier::classify`](super::UaClassifier::classify),
/// which ignores what it cannot read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientHints<'a> {
    /// `Sec-CH-UA`: `"Chromium";v="131", "Google Chrome";v="131", "Not_A Brand";v="24"`.
    pub brands: Option<&'a str>,
    /// `Sec-CH-UA-Mobile`: `?1` on phones, `?0` elsewhere.
    pub mobile: Option<&'a str>,
    /// `Sec-CH-UA-Platform`: `"Windows"`, `"macOS"`, `"Android"`, `"Linux"`, `"Chrome OS"`, ...
    pub platform: Option<&'a str>,
    /// `Sec-CH-UA-Platform-Version`: high entropy, so only present when the site asked for it with
    /// `Accept-CH`; the one way to tell Windows 11 from 10 or to get a real macOS or Android version.
    pub platform_version: Option<&'a str>,
    /// `Sec-CH-UA-Form-Factors`: `"Desktop"`, `"Mobile"`, `"Tablet"`, `"XR"`, `"EInk"`, `"Watch"`,
    /// `"Automotive"` (a list); high entropy, sent only when the site asks for it with `Accept-CH`.
    pub form_factors: Option<&'a str>,
}

impl<'a> ClientHints<'a> {
    /// No hints (Safari, Firefox, and Chromium over plain HTTP send none).
    pub const NONE: ClientHints<'static> = ClientHints {
        brands: None,
        mobile: None,
        platform: None,
        platform_version: None,
        form_factors: None,
    };

    /// Reads the hint headers of a request.
    pub fn from_headers(headers: &'a HeaderMap) -> Self {
        // Names built once: looking a header up by `&str` parses and validates the name each time.
        const BRANDS: HeaderName = HeaderName::from_static("sec-ch-ua");
        const MOBILE: HeaderName = HeaderName::from_static("sec-ch-ua-mobile");
        const PLATFORM: HeaderName = HeaderName::from_static("sec-ch-ua-platform");
        const PLATFORM_VERSION: HeaderName = HeaderName::from_static("sec-ch-ua-platform-version");
        const FORM_FACTORS: HeaderName = HeaderName::from_static("sec-ch-ua-form-factors");
        let value = |name: &HeaderName| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .filter(|value| value.len() <= MAX_HINT_BYTES)
        };
        Self {
            brands: value(&BRANDS),
            mobile: value(&MOBILE),
            platform: value(&PLATFORM),
            platform_version: value(&PLATFORM_VERSION),
            form_factors: value(&FORM_FACTORS),
        }
    }
}

/// The hints as far as they could be read; unreadable parts are `None`.
#[derive(Debug, Default)]
pub(super) struct ParsedHints<'a> {
    pub(super) brand: Option<BrandReading<'a>>,
    pub(super) headless: bool,
    pub(super) mobile: Option<bool>,
    /// uap-core OS family of `Sec-CH-UA-Platform`.
    pub(super) platform: Option<&'static str>,
    pub(super) platform_version: Option<&'a str>,
    /// The device class `Sec-CH-UA-Form-Factors` names, if it names one.
    pub(super) form_factor: Option<DeviceClass>,
}

#[derive(Debug)]
pub(super) struct BrandReading<'a> {
    pub(super) rule: &'static BrandRule,
    pub(super) major: Option<&'a str>,
}

impl<'a> ParsedHints<'a> {
    pub(super) fn read(hints: &ClientHints<'a>) -> Self {
        let (brand, headless) = hints
            .brands
            .filter(|value| value.len() <= MAX_HINT_BYTES)
            .map(meaningful_brand)
            .unwrap_or((None, false));
        let mobile = match hints.mobile.map(str::trim) {
            Some("?1") => Some(true),
            Some("?0") => Some(false),
            _ => None,
        };
        let platform = hints.platform.and_then(|value| {
            let platform = unquote(value);
            PLATFORMS
                .iter()
                .find(|(hint, _)| *hint == platform)
                .map(|(_, family)| *family)
        });
        let platform_version = hints
            .platform_version
            .filter(|value| value.len() <= MAX_HINT_BYTES)
            .map(unquote);
        let form_factor = hints
            .form_factors
            .filter(|value| value.len() <= MAX_HINT_BYTES)
            .and_then(form_factor_class);
        Self {
            brand,
            headless,
            mobile,
            platform,
            platform_version,
            form_factor,
        }
    }
}

/// Picks the brand that names the browser from a `Sec-CH-UA` list, ignoring GREASE entries.
/// Returns the brand (if one is known) and whether the list names headless Chrome.
fn meaningful_brand(value: &str) -> (Option<BrandReading<'_>>, bool) {
    let mut best: Option<(usize, BrandReading<'_>)> = None;
    let mut unknown_brand_seen = false;
    let mut headless = false;
    for entry in BrandList::new(value) {
        if is_grease_brand(entry.brand) {
            continue;
        }
        headless |= entry.brand == HEADLESS_BRAND;
        let Some(rank) = BRANDS.iter().position(|rule| rule.brand == entry.brand) else {
            unknown_brand_seen = true;
            continue;
        };
        if best.as_ref().is_none_or(|(best_rank, _)| rank < *best_rank) {
            let major = entry.version.and_then(|version| version.split('.').next());
            best = Some((
                rank,
                BrandReading {
                    rule: &BRANDS[rank],
                    major,
                },
            ));
        }
    }
    let brand = best.map(|(_, reading)| reading).filter(|reading| {
        // `Chromium` beside a brand we do not know is some other Chromium browser (Vivaldi, Whale,
        // ...): naming it `Chromium` would be wrong, so leave the family to the UA.
        !(reading.rule.brand == CHROMIUM_BRAND && unknown_brand_seen)
    });
    (brand, headless)
}

/// Chromium's GREASE brands (`Not A(Brand`, `Not/A)Brand`, `Not_A Brand`, `Not?A_Brand`, ...) are
/// "Not", "A", "Brand" around random punctuation: compare the letters only.
fn is_grease_brand(brand: &str) -> bool {
    let mut letters = brand
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|letter| letter.to_ascii_lowercase());
    "notabrand"
        .chars()
        .all(|expected| letters.next() == Some(expected))
        && letters.next().is_none()
}

/// One `"Brand";v="131"` member of a `Sec-CH-UA` list.
#[derive(Debug, PartialEq, Eq)]
struct BrandEntry<'a> {
    /// Raw text between the quotes (escapes left as they are: no known brand has any).
    brand: &'a str,
    version: Option<&'a str>,
}

/// Iterates the members of a `Sec-CH-UA` value (an RFC 8941 list of strings with parameters).
/// Tolerant: stops at the first thing it cannot read, and reads at most [`MAX_BRANDS`] members.
struct BrandList<'a> {
    rest: &'a str,
    remaining: usize,
}

/// Chrome sends three brands; a few more leaves room for others without reading a long list.
const MAX_BRANDS: usize = 8;

impl<'a> BrandList<'a> {
    fn new(value: &'a str) -> Self {
        Self {
            rest: value,
            remaining: MAX_BRANDS,
        }
    }
}

impl<'a> Iterator for BrandList<'a> {
    type Item = BrandEntry<'a>;

    fn next(&mut self) -> Option<BrandEntry<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let member = self.rest.trim_start_matches([' ', '\t', ',']);
        let Some((brand, mut after)) = split_quoted(member) else {
            self.rest = "";
            return None;
        };
        let mut version = None;
        while let Some(parameter) = after.trim_start().strip_prefix(';') {
            let parameter = parameter.trim_start();
            let key_end = parameter
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*'))
                .unwrap_or(parameter.len());
            let (key, value) = parameter.split_at(key_end);
            let Some(value) = value.strip_prefix('=') else {
                // A boolean parameter (`;key`), nothing to read.
                after = value;
                continue;
            };
            let (parameter_value, rest) = match split_quoted(value) {
                Some(quoted) => quoted,
                None => value.split_at(value.find([';', ',']).unwrap_or(value.len())),
            };
            if key == "v" {
                version = Some(parameter_value);
            }
            after = rest;
        }
        // Anything else up to the next member is not ours to understand.
        self.rest = after.find(',').map_or("", |comma| &after[comma..]);
        Some(BrandEntry { brand, version })
    }
}

/// Splits `"text"rest` into `text` and `rest`, honouring `\"` and `\\` escapes.
fn split_quoted(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_prefix('"')?;
    let mut escaped = false;
    for (index, byte) in body.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some((&body[..index], &body[index + 1..])),
            _ => {}
        }
    }
    None
}

/// `"Windows"` -> `Windows` (sf-string quotes; an unquoted value is taken as it is).
fn unquote(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// The OS version label from `Sec-CH-UA-Platform-Version` (`"15.0.0"`).
pub(super) fn platform_version_label(platform_family: &str, raw: &str) -> Option<Arc<str>> {
    let mut parts = raw.split('.');
    let major = parts.next()?;
    let minor = parts.next();
    if platform_family == WINDOWS_FAMILY {
        // Windows reports its UniversalApiContract version: 13+ is Windows 11, 1-12 Windows 10,
        // 0.1-0.3 Windows 7, 8 and 8.1.
        let major: u32 = major.parse().ok()?;
        let label = match (major, minor) {
            (13.., _) => "11",
            (1..=12, _) => "10",
            (0, Some("1")) => "7",
            (0, Some("2")) => "8",
            (0, Some("3")) => "8.1",
            _ => return None,
        };
        return Some(label.into());
    }
    if major.is_empty() || major == "0" {
        return None;
    }
    version_label(Some(major), minor)
}

/// The device class of a `Sec-CH-UA-Form-Factors` list: `Tablet` before `Mobile` (a device may
/// list both), XR headsets, watches and cars are `other`, `Desktop` last; `EInk` alone says
/// nothing about the class. `None` when no known value is listed.
fn form_factor_class(value: &str) -> Option<DeviceClass> {
    let listed = |name: &str| value.split(',').any(|item| unquote(item) == name);
    if listed("Tablet") {
        Some(DeviceClass::Tablet)
    } else if listed("Mobile") {
        Some(DeviceClass::Mobile)
    } else if listed("XR") || listed("Watch") || listed("Automotive") {
        Some(DeviceClass::Other)
    } else if listed("Desktop") {
        Some(DeviceClass::Desktop)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::user_agent::tests::CHROME_BRANDS;

    #[test]
    fn hints_are_read_from_request_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-ch-ua", HeaderValue::from_static(CHROME_BRANDS));
        headers.insert("sec-ch-ua-mobile", HeaderValue::from_static("?1"));
        headers.insert(
            "sec-ch-ua-platform",
            HeaderValue::from_static(r#""Android""#),
        );
        let hints = ClientHints::from_headers(&headers);
        assert_eq!(
            hints,
            ClientHints {
                brands: Some(CHROME_BRANDS),
                mobile: Some("?1"),
                platform: Some(r#""Android""#),
                platform_version: None,
                form_factors: None,
            }
        );

        let oversized = format!(r#""{}";v="1""#, "x".repeat(MAX_HINT_BYTES));
        headers.insert(
            "sec-ch-ua",
            HeaderValue::from_str(&oversized).expect("ascii header"),
        );
        headers.insert(
            "sec-ch-ua-platform",
            HeaderValue::from_bytes(b"\"Andr\xffoid\"").expect("obs-text is a valid header value"),
        );
        let hints = ClientHints::from_headers(&headers);
        assert_eq!(hints.brands, None, "over MAX_HINT_BYTES");
        assert_eq!(hints.platform, None, "not visible ASCII");
    }

    #[test]
    fn grease_brands_are_ignored() {
        let grease = [
            "Not A(Brand",
            "Not/A)Brand",
            "Not_A Brand",
            "Not?A_Brand",
            "Not.A/Brand",
            "Not;A=Brand",
            " Not A;Brand",
            "Not)A;Brand",
            "Not-A.Brand",
            "Not:A-Brand",
        ];
        for brand in grease {
            assert!(is_grease_brand(brand), "{brand:?} is GREASE");
        }
        for brand in [
            "Google Chrome",
            "Chromium",
            "Brand",
            "Not a browser",
            "NotABrandNew",
            "",
        ] {
            assert!(!is_grease_brand(brand), "{brand:?} is not GREASE");
        }
        // GREASE first, with `;` and `=` inside its quotes, and a brand we know after it.
        let (brand, headless) = meaningful_brand(
            r#""Not;A=Brand";v="99", "Google Chrome";v="131", "Chromium";v="131""#,
        );
        let brand = brand.expect("Google Chrome found");
        assert_eq!(
            (brand.rule.brand, brand.major, headless),
            ("Google Chrome", Some("131"), false)
        );
        // Only GREASE: no brand.
        assert!(meaningful_brand(r#""Not A(Brand";v="8""#).0.is_none());
    }

    #[test]
    fn brand_list_parser_reads_members_and_tolerates_junk() {
        let entries: Vec<BrandEntry<'_>> = BrandList::new(
            r#""Not A(Brand";v="8", "Chromium";v="132",  "Google Chrome" ; v="132.0.6834.83""#,
        )
        .collect();
        assert_eq!(
            entries,
            [
                BrandEntry {
                    brand: "Not A(Brand",
                    version: Some("8")
                },
                BrandEntry {
                    brand: "Chromium",
                    version: Some("132")
                },
                BrandEntry {
                    brand: "Google Chrome",
                    version: Some("132.0.6834.83")
                },
            ]
        );
        // Escapes, boolean and unquoted parameters.
        let entries: Vec<BrandEntry<'_>> =
            BrandList::new(r#""A \"quoted\" brand";flag;v=7, "B";x="y";v="2""#).collect();
        assert_eq!(
            entries,
            [
                BrandEntry {
                    brand: r#"A \"quoted\" brand"#,
                    version: Some("7")
                },
                BrandEntry {
                    brand: "B",
                    version: Some("2")
                },
            ]
        );
        for junk in [
            "",
            ",,,",
            "Chromium",
            r#""unterminated"#,
            r#""A";v"#,
            r#""A";v="#,
            ";;;",
            "\"\"",
            "\u{fffd}\"é\";v=\"ü\"",
        ] {
            // No panic, and never more than MAX_BRANDS members.
            assert!(BrandList::new(junk).count() <= MAX_BRANDS, "{junk:?}");
        }
        let many = vec![r#""X";v="1""#; 100].join(", ");
        assert_eq!(BrandList::new(&many).count(), MAX_BRANDS);
    }
}
