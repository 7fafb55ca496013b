//! A read-only view over a parsed JSON document, implemented for the simd-json tape (production) and
//! for `serde_json::Value` (the benchmark baseline), so both parsers feed the exact same validation.

use simd_json::prelude::{ValueAsScalar, ValueIntoString};

/// One JSON value. `'a` is the lifetime of the strings it hands out (borrowed from the input).
pub trait JsonValue<'a>: Copy {
    type Elements: Iterator<Item = Self>;
    type Fields: Iterator<Item = (&'a str, Self)>;

    fn as_str(self) -> Option<&'a str>;
    /// Any JSON number as f64 (integers included).
    fn as_f64(self) -> Option<f64>;
    fn as_bool(self) -> Option<bool>;
    fn is_null(self) -> bool;
    /// The array's length and its elements, if this is an array.
    fn elements(self) -> Option<(usize, Self::Elements)>;
    /// The object's fields in document order, if this is an object.
    fn fields(self) -> Option<Self::Fields>;
}

/// The fields of a tape object with their keys' lifetime narrowed to the value's. A struct rather
/// than `map(fn pointer)`: the indirect call per field kept the tape iterator from inlining and
/// showed in the collector's profile.
pub struct SimdFields<'a, 'i> {
    inner: simd_json::tape::object::Iter<'a, 'i>,
}

impl<'a, 'i: 'a> Iterator for SimdFields<'a, 'i> {
    type Item = (&'a str, simd_json::tape::Value<'a, 'i>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl<'a, 'i: 'a> JsonValue<'a> for simd_json::tape::Value<'a, 'i> {
    type Elements = simd_json::tape::array::Iter<'a, 'i>;
    type Fields = SimdFields<'a, 'i>;

    fn as_str(self) -> Option<&'a str> {
        self.into_string()
    }

    fn as_f64(self) -> Option<f64> {
        ValueAsScalar::cast_f64(&self)
    }

    fn as_bool(self) -> Option<bool> {
        ValueAsScalar::as_bool(&self)
    }

    fn is_null(self) -> bool {
        ValueAsScalar::as_null(&self).is_some()
    }

    fn elements(self) -> Option<(usize, Self::Elements)> {
        let array = self.as_array()?;
        Some((array.len(), array.iter()))
    }

    fn fields(self) -> Option<Self::Fields> {
        let object = self.as_object()?;
        Some(SimdFields {
            inner: object.iter(),
        })
    }
}

type SerdeFields<'a> = std::iter::Map<
    serde_json::map::Iter<'a>,
    fn((&'a String, &'a serde_json::Value)) -> (&'a str, &'a serde_json::Value),
>;

fn borrow_key<'a>(
    (key, value): (&'a String, &'a serde_json::Value),
) -> (&'a str, &'a serde_json::Value) {
    (key.as_str(), value)
}

impl<'a> JsonValue<'a> for &'a serde_json::Value {
    type Elements = std::slice::Iter<'a, serde_json::Value>;
    type Fields = SerdeFields<'a>;

    fn as_str(self) -> Option<&'a str> {
        serde_json::Value::as_str(self)
    }

    fn as_f64(self) -> Option<f64> {
        serde_json::Value::as_f64(self)
    }

    fn as_bool(self) -> Option<bool> {
        serde_json::Value::as_bool(self)
    }

    fn is_null(self) -> bool {
        serde_json::Value::is_null(self)
    }

    fn elements(self) -> Option<(usize, Self::Elements)> {
        let array = self.as_array()?;
        Some((array.len(), array.iter()))
    }

    fn fields(self) -> Option<Self::Fields> {
        let object = self.as_object()?;
        Some(object.iter().map(borrow_key as fn(_) -> _))
    }
}
