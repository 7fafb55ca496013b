//! Decoding one maxminddb record into an answer: both location layouts (GeoIP2/GeoLite2 nested
//! maps and the flat DB-IP Lite fields) through one [`LocationRecord`], and the ASN layout through
//! [`AsnRecord`]. Fields are borrowed from the mapped file where the bytes allow it.
//!
//! Databases are input too, so this module must never panic on anything a record contains and
//! never let a value through that could become an unbounded label: a field of an unexpected type
//! makes that value [`Decoded::Invalid`] instead of failing the lookup, countries must be two ASCII
//! letters, names are trimmed, length-capped and free of control characters, and AS0 is refused.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use maxminddb::{Mmap, Reader};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::CountryCode;

/// Longest region or city name kept; longer values are treated as unknown.
const MAX_NAME_BYTES: usize = 128;

/// The outcome of one lookup in one database.
pub(super) enum Decoded<T> {
    Found(T),
    /// No record, or a record without the value this role needs.
    NotFound,
    /// A record whose value is malformed (or that maxminddb could not decode).
    Invalid,
}

/// A record layout: how to decode it and what it answers.
pub(super) trait Record<'de>: Deserialize<'de> {
    type Answer;
    fn answer(self) -> Decoded<Self::Answer>;
}

pub(super) fn decode_answer<'r, R: Record<'r>>(
    reader: &'r Reader<Mmap>,
    address: IpAddr,
) -> Decoded<R::Answer> {
    // maxminddb reports IPv6 in an IPv4-only database as an error; for us it is simply not there.
    if address.is_ipv6() && reader.metadata().ip_version == 4 {
        return Decoded::NotFound;
    }
    let Ok(result) = reader.lookup(address) else {
        return Decoded::Invalid;
    };
    match result.decode::<R>() {
        Ok(Some(record)) => record.answer(),
        Ok(None) => Decoded::NotFound,
        Err(_) => Decoded::Invalid,
    }
}

/// The answer of the location database.
pub(super) struct Location {
    pub(super) country: CountryCode,
    pub(super) region: String,
    pub(super) city: String,
}

/// Both location layouts in one struct; each file fills the fields of its own layout. Fields of an
/// unexpected type come through as [`Value::Other`] rather than failing the record, except the
/// GeoIP2 maps (`country`, `subdivisions`, `city` as a map), whose wrong shape makes it `invalid`.
#[derive(Deserialize)]
pub(super) struct LocationRecord<'a> {
    /// GeoIP2: where the address is.
    #[serde(borrow)]
    country: Option<Place<'a>>,
    /// GeoIP2: where the network is registered; used only when `country` is absent.
    #[serde(borrow)]
    registered_country: Option<Place<'a>>,
    /// GeoIP2: largest first.
    #[serde(borrow)]
    subdivisions: Option<FirstElement<Place<'a>>>,
    /// GeoIP2 `{names: {en}}` or DB-IP text.
    #[serde(borrow)]
    city: Option<City<'a>>,
    /// DB-IP.
    #[serde(borrow)]
    country_code: Option<Value<'a>>,
    /// DB-IP city: the first-level subdivision name.
    #[serde(borrow)]
    state1: Option<Value<'a>>,
}

impl<'a> Record<'a> for LocationRecord<'a> {
    type Answer = Location;

    fn answer(self) -> Decoded<Location> {
        let country = [
            self.country.and_then(|place| place.iso_code),
            self.country_code,
            self.registered_country.and_then(|place| place.iso_code),
        ]
        .into_iter()
        .flatten()
        .find(|value| !value.is_empty());
        let country = match country {
            None => return Decoded::NotFound,
            Some(Value::Text(text)) => match CountryCode::parse(&text) {
                Some(country) => country,
                None => return Decoded::Invalid,
            },
            Some(Value::Integer(_) | Value::Other) => return Decoded::Invalid,
        };
        let subdivision = self.subdivisions.and_then(|first| first.0);
        let region = subdivision
            .and_then(|place| {
                let english = place.names.and_then(|names| names.en).and_then(clean_name);
                english.or_else(|| place.iso_code.and_then(clean_name))
            })
            .or_else(|| self.state1.and_then(clean_name))
            .unwrap_or_default();
        let city = match self.city {
            Some(City::Text(value)) => clean_name(value),
            Some(City::Names(names)) => names.en.and_then(clean_name),
            None => None,
        }
        .unwrap_or_default();
        Decoded::Found(Location {
            country,
            region,
            city,
        })
    }
}

/// A GeoIP2 place (country or subdivision).
#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<Value<'a>>,
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

/// GeoIP2 localised names; only English is used, so labels stay in one language.
#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<Value<'a>>,
}

/// `city` is a map of names in GeoIP2 and plain text in DB-IP.
enum City<'a> {
    Text(Value<'a>),
    Names(Names<'a>),
}

#[derive(Deserialize)]
struct GeoIp2City<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for City<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CityVisitor<'a>(std::marker::PhantomData<City<'a>>);

        impl<'de: 'a, 'a> Visitor<'de> for CityVisitor<'a> {
            type Value = City<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a city name or a map of city names")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<City<'a>, E> {
                Ok(City::Text(Value::Text(Cow::Borrowed(text))))
            }

            fn visit_str<E>(self, text: &str) -> Result<City<'a>, E> {
                Ok(City::Text(Value::Text(Cow::Owned(text.to_owned()))))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<City<'a>, A::Error> {
                let city = GeoIp2City::deserialize(MapAccessDeserializer::new(map))?;
                Ok(City::Names(Names {
                    en: city.names.and_then(|names| names.en),
                }))
            }
        }

        deserializer.deserialize_any(CityVisitor(std::marker::PhantomData))
    }
}

/// The first element of an array; the rest are skipped without being decoded into anything.
struct FirstElement<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for FirstElement<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
            type Value = FirstElement<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstElement<T>, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstElement(first))
            }
        }

        deserializer.deserialize_seq(FirstVisitor(std::marker::PhantomData))
    }
}

/// The ASN layout (GeoLite2-ASN and ip-location-db).
#[derive(Deserialize)]
pub(super) struct AsnRecord<'a> {
    #[serde(borrow)]
    autonomous_system_number: Option<Value<'a>>,
}

impl<'a> Record<'a> for AsnRecord<'a> {
    type Answer = u32;

    fn answer(self) -> Decoded<u32> {
        let number = match self.autonomous_system_number {
            None => return Decoded::NotFound,
            Some(value) if value.is_empty() => return Decoded::NotFound,
            Some(Value::Integer(number)) => u32::try_from(number).ok(),
            // Tolerated for hand-made databases: "64500" or "AS64500".
            Some(Value::Text(text)) => {
                let digits = text
                    .strip_prefix("AS")
                    .or_else(|| text.strip_prefix("as"))
                    .unwrap_or(&text);
                digits.parse::<u32>().ok()
            }
            Some(Value::Other) => None,
        };
        match number {
            // AS0 is reserved (RFC 7607): a database saying 0 is saying nothing valid.
            Some(number) if number != 0 => Decoded::Found(number),
            _ => Decoded::Invalid,
        }
    }
}

/// One scalar field as far as this module cares. Any type is accepted, so a field of the wrong
/// type makes that value invalid instead of failing the whole record.
enum Value<'a> {
    Text(Cow<'a, str>),
    Integer(i128),
    /// Floats, booleans, bytes, maps, arrays, and integers beyond i128.
    Other,
}

impl Value<'_> {
    /// DB-IP writes "" for what it does not know.
    fn is_empty(&self) -> bool {
        matches!(self, Value::Text(text) if text.is_empty())
    }
}

/// A name fit to store: text, trimmed, not empty, at most [`MAX_NAME_BYTES`], no control
/// characters.
fn clean_name(value: Value<'_>) -> Option<String> {
    let Value::Text(text) = value else {
        return None;
    };
    let trimmed = text.trim();
    let fits = !trimmed.is_empty() && trimmed.len() <= MAX_NAME_BYTES;
    (fits && !trimmed.chars().any(char::is_control)).then(|| trimmed.to_owned())
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor<'a>(std::marker::PhantomData<Value<'a>>);

        impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
            type Value = Value<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("any value")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Value<'a>, E> {
                Ok(Value::Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Value<'a>, E> {
                Ok(Value::Text(Cow::Owned(text.to_owned())))
            }

            fn visit_i64<E>(self, number: i64) -> Result<Value<'a>, E> {
                Ok(Value::Integer(i128::from(number)))
            }

            fn visit_u64<E>(self, number: u64) -> Result<Value<'a>, E> {
                Ok(Value::Integer(i128::from(number)))
            }

            fn visit_i128<E>(self, number: i128) -> Result<Value<'a>, E> {
                Ok(Value::Integer(number))
            }

            fn visit_u128<E>(self, number: u128) -> Result<Value<'a>, E> {
                Ok(i128::try_from(number).map_or(Value::Other, Value::Integer))
            }

            fn visit_f64<E>(self, _: f64) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_bytes<E>(self, _: &[u8]) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_unit<E>(self) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }
        }

        deserializer.deserialize_any(ValueVisitor(std::marker::PhantomData))
    }
}
