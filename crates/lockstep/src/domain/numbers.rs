//! Whole numbers read as JSON Schema reads them: an integer is a number
//! with no fractional part, so `5.0` is the integer 5. serde's integer types
//! refuse `5.0`; a field that the API documents as an integer reads through
//! [`whole`] (or [`Whole`] inside an `Option` or a patch) to accept what its
//! schema says it accepts. A fraction or a number out of range is refused.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A whole number of type `T`, read from `5` or `5.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole<T>(pub T);

impl<T: Serialize> Serialize for Whole<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: TryFrom<i64> + TryFrom<u64>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WholeVisitor<T>(std::marker::PhantomData<T>);

        impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for WholeVisitor<T> {
            type Value = Whole<T>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an integer")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Whole<T>, E> {
                T::try_from(value).map(Whole).map_err(|_| E::custom(format!("{value} is out of range")))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Whole<T>, E> {
                T::try_from(value).map(Whole).map_err(|_| E::custom(format!("{value} is out of range")))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Whole<T>, E> {
                // Within ±2^53 every whole f64 is exactly an integer.
                if value.fract() != 0.0 || value.abs() > 9_007_199_254_740_992.0 {
                    return Err(E::invalid_type(de::Unexpected::Float(value), &self));
                }
                self.visit_i64(value as i64)
            }
        }

        deserializer.deserialize_any(WholeVisitor(std::marker::PhantomData))
    }
}

/// For `#[serde(deserialize_with)]`: a whole number, from `5` or `5.0`.
pub fn whole<'de, D: Deserializer<'de>, T: TryFrom<i64> + TryFrom<u64>>(deserializer: D) -> Result<T, D::Error> {
    Whole::deserialize(deserializer).map(|Whole(value)| value)
}

/// For `#[serde(deserialize_with)]` on an `Option`: absent, `null`, or a whole number.
pub fn optional_whole<'de, D: Deserializer<'de>, T: TryFrom<i64> + TryFrom<u64>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Whole<T>>::deserialize(deserializer).map(|value| value.map(|Whole(value)| value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<u32, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        whole(&mut deserializer)
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        assert_eq!(read("5").unwrap(), 5);
        assert_eq!(read("5.0").unwrap(), 5);
        assert_eq!(read("5e0").unwrap(), 5);
        for bad in ["5.5", "-1", "4294967296", "1e300", "\"5\"", "null"] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
