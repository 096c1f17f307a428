//! The filter model: Qdrant's filter JSON as Rust types, its serde shapes,
//! key paths, datetime parsing and semantic validation.

use std::collections::BTreeSet;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{Error, PointId, Result};

/// A boolean combination of conditions, in Qdrant's JSON shape.
///
/// A point matches when every `must` condition holds, at least one `should`
/// condition holds (if there are any), at least `min_should.min_count` of the
/// `min_should` conditions hold (if given), and no `must_not` condition holds.
/// The empty filter `{}` matches every point. Each clause accepts a single
/// condition or a list, and `null` for "absent", as Qdrant does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// All of these must hold (AND).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub must: Vec<Condition>,
    /// At least one of these must hold (OR), unless the list is empty.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub should: Vec<Condition>,
    /// None of these may hold (NOR).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub must_not: Vec<Condition>,
    /// At least `min_count` of `conditions` must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_should: Option<MinShould>,
}

/// Qdrant's `min_should` clause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinShould {
    /// The conditions to count.
    pub conditions: Vec<Condition>,
    /// How many of them must hold.
    pub min_count: usize,
}

/// One condition of a filter clause.
///
/// Deserialised by its distinguishing key (`key`, `is_empty`, `is_null`,
/// `has_id`, `nested`, `filter`, or the clauses of a bare nested filter), so
/// a malformed condition gets an error naming what is wrong with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Condition {
    /// A condition on the values at one payload key.
    Field(Box<FieldCondition>),
    /// `{"is_empty": {"key": ..}}`: the key is missing, `null` or `[]`.
    IsEmpty(IsEmptyCondition),
    /// `{"is_null": {"key": ..}}`: the key holds an explicit `null`.
    IsNull(IsNullCondition),
    /// `{"has_id": [..]}`: the point's id is one of these.
    HasId(HasIdCondition),
    /// `{"nested": {"key": .., "filter": ..}}`: some object of the array at
    /// `key` matches `filter` on its own.
    Nested(NestedCondition),
    /// A nested filter, written bare or as `{"filter": {..}}`.
    Filter(Filter),
}

/// A condition on the values found at a payload key.
///
/// Exactly one of `match`, `range`, `datetime_range`, `values_count`,
/// `is_empty`, `is_null` must be given ([`Filter::validate`] checks it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    /// The payload key: dotted path, `[]` after a step to take array elements.
    pub key: String,
    /// Value, any-of, except or substring match.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<Match>,
    /// Numeric bounds, or RFC 3339 datetime bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// RFC 3339 datetime bounds (Qdrant's separate key for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datetime_range: Option<Range>,
    /// Bounds on the number of values at the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_count: Option<ValuesCount>,
    /// `true`: the key is empty; `false`: it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_empty: Option<bool>,
    /// `true`: the key holds `null`; `false`: it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_null: Option<bool>,
}

impl FieldCondition {
    /// A condition on `key` with nothing set yet; fill in one test.
    pub fn new(key: impl Into<String>) -> Self {
        FieldCondition {
            key: key.into(),
            r#match: None,
            range: None,
            datetime_range: None,
            values_count: None,
            is_empty: None,
            is_null: None,
        }
    }
}

/// The `match` of a field condition.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Match {
    /// `{"value": v}`: some value equals `v` (integers do not equal floats).
    Value {
        /// The value to compare with.
        value: MatchValue,
    },
    /// `{"any": [..]}`: some value equals one of these (empty: never).
    Any {
        /// The accepted values.
        any: Vec<MatchValue>,
    },
    /// `{"except": [..]}`: some non-null value is none of these.
    Except {
        /// The rejected values.
        except: Vec<MatchValue>,
    },
    /// `{"text": ".."}`: some string value contains this substring.
    Text {
        /// The substring.
        text: String,
    },
}

/// A value to match: a keyword, an integer or a bool.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum MatchValue {
    /// A string.
    Keyword(String),
    /// A signed 64-bit integer.
    Integer(i64),
    /// A boolean.
    Bool(bool),
}

/// Range bounds; every given bound must hold.
///
/// Bounds are all numbers (compared with integer and float values) or all
/// datetimes (compared with string values that parse as datetimes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Strictly greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<RangeBound>,
    /// Greater than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<RangeBound>,
    /// Strictly less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<RangeBound>,
    /// Less than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<RangeBound>,
}

/// One bound of a [`Range`]: a number or a datetime string.
#[derive(Clone, Debug, PartialEq)]
pub enum RangeBound {
    /// A number (JSON integer or float).
    Number(f64),
    /// A datetime, written as a string.
    Datetime(Datetime),
}

/// A datetime bound as written, with its parsed instant.
///
/// Accepts RFC 3339 (`2023-02-08T10:49:00Z`, `..+02:00`, fractions), and
/// without an offset (`2023-02-08T10:49:00`, `2023-02-08 10:49:00`,
/// `2023-02-08`) as UTC, like Qdrant.
#[derive(Clone, Debug, PartialEq)]
pub struct Datetime {
    text: String,
    micros: Option<i64>,
}

impl Datetime {
    /// Wraps `text`; [`Filter::validate`] rejects it if it does not parse.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let micros = parse_datetime(&text);
        Datetime { text, micros }
    }

    /// The text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Microseconds since the Unix epoch (UTC), or `None` if unparseable.
    pub fn micros(&self) -> Option<i64> {
        self.micros
    }
}

/// Bounds on the number of values at a key (array length, 1 for a scalar).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesCount {
    /// Strictly greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<usize>,
    /// Greater than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<usize>,
    /// Strictly less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<usize>,
    /// Less than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<usize>,
}

/// `{"key": ..}`, the argument of `is_empty` and `is_null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadField {
    /// The payload key.
    pub key: String,
}

/// `{"is_empty": {"key": ..}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsEmptyCondition {
    /// The key to test.
    pub is_empty: PayloadField,
}

/// `{"is_null": {"key": ..}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsNullCondition {
    /// The key to test.
    pub is_null: PayloadField,
}

/// `{"has_id": [..]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HasIdCondition {
    /// The accepted external ids.
    pub has_id: BTreeSet<PointId>,
}

/// `{"nested": {"key": .., "filter": ..}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NestedCondition {
    /// The array of objects and the filter for them.
    pub nested: Nested,
}

/// The body of a [`NestedCondition`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nested {
    /// Key of the array of objects.
    pub key: String,
    /// The filter each object is tested against (keys relative to it).
    pub filter: Filter,
}

/// One step of a key path: an object key, then `wildcards` times `[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step<'a> {
    pub(crate) name: &'a str,
    pub(crate) wildcards: usize,
}

/// Checks a key path: non-empty steps separated by `.`, each a name
/// optionally followed by `[]` (any number of times). Does not allocate on
/// success, since scans call it for every point.
pub(crate) fn parse_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() {
        return Err("key is empty".to_string());
    }
    for segment in key.split('.') {
        let name_end = segment.find('[').unwrap_or(segment.len());
        let (name, mut rest) = segment.split_at(name_end);
        if name.is_empty() {
            return Err(format!("key `{key}` has an empty step"));
        }
        while let Some(after) = rest.strip_prefix("[]") {
            rest = after;
        }
        if !rest.is_empty() {
            return Err(format!(
                "key `{key}`: step `{segment}` may only end in `[]` (array indexes are not supported)"
            ));
        }
    }
    Ok(())
}

/// Parses a datetime as Qdrant accepts it, to microseconds since the epoch.
pub(crate) fn parse_datetime(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.timestamp_micros());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

fn invalid(message: String) -> Error {
    Error::InvalidFilter(message)
}

impl Filter {
    /// Semantic validation: keys are well-formed, each field condition tests
    /// exactly one thing, ranges have a bound and consistent bound types,
    /// datetimes parse, numbers are finite.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`] naming the key and the problem.
    pub fn validate(&self) -> Result<()> {
        let clauses = [
            ("must", &self.must),
            ("should", &self.should),
            ("must_not", &self.must_not),
        ];
        for (_, conditions) in clauses {
            for condition in conditions {
                condition.validate()?;
            }
        }
        if let Some(min_should) = &self.min_should {
            for condition in &min_should.conditions {
                condition.validate()?;
            }
        }
        Ok(())
    }
}

impl Condition {
    fn validate(&self) -> Result<()> {
        match self {
            Condition::Field(field) => field.validate(),
            Condition::IsEmpty(c) => check_key(&c.is_empty.key, "is_empty"),
            Condition::IsNull(c) => check_key(&c.is_null.key, "is_null"),
            Condition::HasId(_) => Ok(()),
            Condition::Nested(c) => {
                check_key(&c.nested.key, "nested")?;
                c.nested.filter.validate()
            }
            Condition::Filter(f) => f.validate(),
        }
    }
}

fn check_key(key: &str, what: &str) -> Result<()> {
    parse_key(key).map_err(|e| invalid(format!("{what} condition: {e}")))
}

impl FieldCondition {
    fn validate(&self) -> Result<()> {
        check_key(&self.key, "field")?;
        let key = &self.key;
        let given: Vec<&str> = [
            ("match", self.r#match.is_some()),
            ("range", self.range.is_some()),
            ("datetime_range", self.datetime_range.is_some()),
            ("values_count", self.values_count.is_some()),
            ("is_empty", self.is_empty.is_some()),
            ("is_null", self.is_null.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        match given.len() {
            0 => {
                return Err(invalid(format!(
                    "condition on `{key}` tests nothing: give one of match, range, datetime_range, values_count, is_empty, is_null"
                )));
            }
            1 => {}
            _ => {
                return Err(invalid(format!(
                    "condition on `{key}` has {}; use one test per condition (combine them in `must`)",
                    given.join(" and ")
                )));
            }
        }
        if let Some(Match::Text { text }) = &self.r#match
            && text.is_empty()
        {
            return Err(invalid(format!(
                "match text on `{key}` is empty; it would match every string"
            )));
        }
        if let Some(range) = &self.range {
            range.validate(key, "range")?;
        }
        if let Some(range) = &self.datetime_range {
            range.validate(key, "datetime_range")?;
            if range
                .bounds()
                .any(|(_, b)| matches!(b, RangeBound::Number(_)))
            {
                return Err(invalid(format!(
                    "datetime_range on `{key}` takes RFC 3339 datetime strings, not numbers"
                )));
            }
        }
        if let Some(count) = &self.values_count
            && [count.gt, count.gte, count.lt, count.lte]
                .iter()
                .all(Option::is_none)
        {
            return Err(invalid(format!(
                "values_count on `{key}` has no bound: give gt, gte, lt or lte"
            )));
        }
        Ok(())
    }
}

impl Range {
    /// The bounds that are set, with their names.
    pub(crate) fn bounds(&self) -> impl Iterator<Item = (&'static str, &RangeBound)> {
        [
            ("gt", &self.gt),
            ("gte", &self.gte),
            ("lt", &self.lt),
            ("lte", &self.lte),
        ]
        .into_iter()
        .filter_map(|(name, b)| b.as_ref().map(|b| (name, b)))
    }

    fn validate(&self, key: &str, what: &str) -> Result<()> {
        if self.bounds().next().is_none() {
            return Err(invalid(format!(
                "{what} on `{key}` has no bound: give gt, gte, lt or lte"
            )));
        }
        let mut numbers = 0;
        let mut datetimes = 0;
        for (name, bound) in self.bounds() {
            match bound {
                RangeBound::Number(n) if !n.is_finite() => {
                    return Err(invalid(format!(
                        "{what} on `{key}`: {name} is not a finite number"
                    )));
                }
                RangeBound::Number(_) => numbers += 1,
                RangeBound::Datetime(d) if d.micros.is_none() => {
                    return Err(invalid(format!(
                        "{what} on `{key}`: {name} `{}` is not an RFC 3339 datetime",
                        d.text
                    )));
                }
                RangeBound::Datetime(_) => datetimes += 1,
            }
        }
        if numbers > 0 && datetimes > 0 {
            return Err(invalid(format!(
                "{what} on `{key}` mixes number and datetime bounds"
            )));
        }
        Ok(())
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Condition>, D::Error> {
    let value = Value::deserialize(d)?;
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| serde_json::from_value(item).map_err(de::Error::custom))
            .collect(),
        Value::Object(_) => serde_json::from_value::<Condition>(value)
            .map(|c| vec![c])
            .map_err(de::Error::custom),
        other => Err(de::Error::custom(format!(
            "a clause must be a condition or a list of conditions, got {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const FILTER_KEYS: [&str; 4] = ["must", "should", "must_not", "min_should"];

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let Value::Object(map) = value else {
            return Err(de::Error::custom(format!(
                "a condition must be an object, got {}",
                kind_of(&value)
            )));
        };
        fn parse<T: serde::de::DeserializeOwned, E: de::Error>(
            map: Map<String, Value>,
            what: &str,
        ) -> std::result::Result<T, E> {
            serde_json::from_value(Value::Object(map))
                .map_err(|e| E::custom(format!("{what} condition: {e}")))
        }
        if map.contains_key("key") {
            parse(map, "field").map(|f| Condition::Field(Box::new(f)))
        } else if map.contains_key("is_empty") {
            parse(map, "is_empty").map(Condition::IsEmpty)
        } else if map.contains_key("is_null") {
            parse(map, "is_null").map(Condition::IsNull)
        } else if map.contains_key("has_id") {
            parse(map, "has_id").map(Condition::HasId)
        } else if map.contains_key("nested") {
            parse(map, "nested").map(Condition::Nested)
        } else if map.contains_key("filter") {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Wrapped {
                filter: Filter,
            }
            parse::<Wrapped, D::Error>(map, "filter").map(|w| Condition::Filter(w.filter))
        } else if map.keys().all(|k| FILTER_KEYS.contains(&k.as_str())) {
            parse(map, "nested filter").map(Condition::Filter)
        } else {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            Err(de::Error::custom(format!(
                "unknown condition with keys [{}]: expected `key`, `is_empty`, `is_null`, `has_id`, `nested`, `filter`, or must/should/must_not",
                keys.join(", ")
            )))
        }
    }
}

impl<'de> Deserialize<'de> for Match {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let Value::Object(mut map) = value else {
            return Err(de::Error::custom(format!(
                "match must be an object, got {}",
                kind_of(&value)
            )));
        };
        if map.len() != 1 {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(de::Error::custom(format!(
                "match takes exactly one of value, any, except, text; got [{}]",
                keys.join(", ")
            )));
        }
        let (name, inner) = map
            .iter_mut()
            .next()
            .map(|(k, v)| (k.clone(), v.take()))
            .ok_or_else(|| de::Error::custom("match is empty"))?;
        let list = |inner: Value| -> std::result::Result<Vec<MatchValue>, D::Error> {
            match inner {
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| MatchValue::try_from(v).map_err(de::Error::custom))
                    .collect(),
                other => Err(de::Error::custom(format!(
                    "match {name} takes a list, got {}",
                    kind_of(&other)
                ))),
            }
        };
        match name.as_str() {
            "value" => MatchValue::try_from(inner)
                .map(|value| Match::Value { value })
                .map_err(de::Error::custom),
            "any" => list(inner).map(|any| Match::Any { any }),
            "except" => list(inner).map(|except| Match::Except { except }),
            "text" => match inner {
                Value::String(text) => Ok(Match::Text { text }),
                other => Err(de::Error::custom(format!(
                    "match text takes a string, got {}",
                    kind_of(&other)
                ))),
            },
            other => Err(de::Error::custom(format!(
                "unknown match `{other}`: expected value, any, except or text"
            ))),
        }
    }
}

impl TryFrom<Value> for MatchValue {
    type Error = String;

    fn try_from(value: Value) -> std::result::Result<Self, String> {
        match value {
            Value::String(s) => Ok(MatchValue::Keyword(s)),
            Value::Bool(b) => Ok(MatchValue::Bool(b)),
            Value::Number(n) => n.as_i64().map(MatchValue::Integer).ok_or_else(|| {
                format!("match value {n} is not a 64-bit signed integer (floats cannot be matched exactly; use range)")
            }),
            other => Err(format!(
                "match value must be a string, integer or bool, got {}",
                kind_of(&other)
            )),
        }
    }
}

impl<'de> Deserialize<'de> for MatchValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        MatchValue::try_from(Value::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl Serialize for RangeBound {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            RangeBound::Number(n) => s.serialize_f64(*n),
            RangeBound::Datetime(d) => s.serialize_str(&d.text),
        }
    }
}

impl<'de> Deserialize<'de> for RangeBound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_f64()
                .map(RangeBound::Number)
                .ok_or_else(|| de::Error::custom("range bound is not a number")),
            Value::String(s) => Ok(RangeBound::Datetime(Datetime::new(s))),
            other => Err(de::Error::custom(format!(
                "range bound must be a number or an RFC 3339 datetime string, got {}",
                kind_of(&other)
            ))),
        }
    }
}

impl Serialize for Datetime {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
