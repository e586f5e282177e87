//! What the resource models share: the `extra` map that keeps unmodelled properties, the
//! `{"id": ...}` reference, and the lenient number (de)serializers for percentages.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

pub(super) type Extra = Map<String, Value>;

/// `{"id": ...}`: ApiEntityReference / SubResource in the swagger.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceRef {
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResourceRef {
    pub fn new(id: impl Into<String>) -> Self {
        ResourceRef {
            id: Some(id.into()),
            extra: Extra::new(),
        }
    }
}

/// Accepts a JSON number or a numeric string (the docs' samples quote some numbers).
pub(super) fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(f64),
        Str(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Num(n)) => Ok(Some(n)),
        // Rust's parser also reads "NaN" and "inf"; no percentage is ever that, and a NaN
        // would read as "ready" to one rule and "in progress" to another.
        Some(N::Str(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a number: {s:?}"))),
    }
}

/// Whole numbers go out as integers (as ARM sends them), others as floats.
pub(super) fn compact_number<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => s.serialize_i64(*n as i64),
        Some(n) => s.serialize_f64(*n),
        None => s.serialize_none(),
    }
}
