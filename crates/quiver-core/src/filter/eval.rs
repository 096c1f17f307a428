//! The reference evaluation of a filter against one point's payload.
//!
//! Semantics follow Qdrant: the values at a key are collected by walking the
//! path (arrays met on the way fan out, `[]` takes the elements of an array
//! and yields nothing on a non-array); a field test holds if any value holds,
//! where a value that is an array is tested element by element.

use serde_json::{Map, Value};

use super::parse::{
    Condition, FieldCondition, Filter, Match, MatchValue, Range, RangeBound, Step, ValuesCount,
    parse_datetime, parse_key,
};
use crate::PointId;

/// The values found at `key` in `payload` (arrays at the end not flattened).
/// A malformed key finds nothing.
pub(crate) fn values_at<'a>(payload: &'a Map<String, Value>, key: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    // Checked once here so the walk can split the key lazily, without
    // allocating the step list for every point of a scan.
    if parse_key(key).is_err() {
        return out;
    }
    let (first, rest) = next_step(key);
    if let Some(value) = payload.get(first.name) {
        wildcards(value, first.wildcards, rest, &mut out);
    }
    out
}

/// Splits the first step off a well-formed key.
fn next_step(key: &str) -> (Step<'_>, Option<&str>) {
    let (segment, rest) = match key.split_once('.') {
        Some((segment, rest)) => (segment, Some(rest)),
        None => (key, None),
    };
    let name = segment.split('[').next().unwrap_or(segment);
    let wildcards = (segment.len() - name.len()) / 2;
    (Step { name, wildcards }, rest)
}

fn wildcards<'a>(value: &'a Value, count: usize, rest: Option<&str>, out: &mut Vec<&'a Value>) {
    if count == 0 {
        walk(value, rest, out);
    } else if let Value::Array(items) = value {
        for item in items {
            wildcards(item, count - 1, rest, out);
        }
    }
}

fn walk<'a>(value: &'a Value, rest: Option<&str>, out: &mut Vec<&'a Value>) {
    let Some(rest) = rest else {
        out.push(value);
        return;
    };
    match value {
        Value::Object(map) => {
            let (step, after) = next_step(rest);
            if let Some(child) = map.get(step.name) {
                wildcards(child, step.wildcards, after, out);
            }
        }
        // An array met before the path ends fans out: any element may match.
        Value::Array(items) => {
            for item in items {
                walk(item, Some(rest), out);
            }
        }
        _ => {}
    }
}

/// Qdrant's is_empty: no values, or each value is `null` or `[]`.
pub(crate) fn is_empty(values: &[&Value]) -> bool {
    values.iter().all(|v| match v {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        _ => false,
    })
}

/// Qdrant's is_null: some value is an explicit `null`.
pub(crate) fn is_null(values: &[&Value]) -> bool {
    values.iter().any(|v| v.is_null())
}

/// Number of values: an array counts its elements, `null` counts 0, a
/// scalar or object counts 1.
pub(crate) fn values_count(values: &[&Value]) -> usize {
    values
        .iter()
        .map(|v| match v {
            Value::Null => 0,
            Value::Array(items) => items.len(),
            _ => 1,
        })
        .sum()
}

/// Does any value, or any element of an array value, satisfy `test`?
pub(crate) fn any_element(values: &[&Value], test: impl Fn(&Value) -> bool) -> bool {
    values.iter().any(|v| match v {
        Value::Array(items) => items.iter().any(&test),
        other => test(other),
    })
}

pub(crate) fn equals(stored: &Value, wanted: &MatchValue) -> bool {
    match (stored, wanted) {
        (Value::String(s), MatchValue::Keyword(w)) => s == w,
        (Value::Number(n), MatchValue::Integer(w)) => n.as_i64() == Some(*w),
        (Value::Bool(b), MatchValue::Bool(w)) => b == w,
        _ => false,
    }
}

/// The per-value test of a `match` (arrays already flattened one level).
pub(crate) fn match_value(stored: &Value, m: &Match) -> bool {
    match m {
        Match::Value { value } => equals(stored, value),
        Match::Any { any } => any.iter().any(|w| equals(stored, w)),
        Match::Except { except } => match stored {
            Value::Null => false,
            Value::String(_) | Value::Bool(_) => !except.iter().any(|w| equals(stored, w)),
            // A float (or an integer beyond i64) is never in an integer list.
            Value::Number(_) => !except.iter().any(|w| equals(stored, w)),
            Value::Array(_) | Value::Object(_) => true,
        },
        Match::Text { text } => match stored {
            Value::String(s) => s.contains(text.as_str()),
            _ => false,
        },
    }
}

/// The per-value test of a range: numbers against number bounds, strings
/// that parse as datetimes against datetime bounds.
pub(crate) fn in_range(stored: &Value, range: &Range) -> bool {
    match stored {
        Value::Number(n) => n.as_f64().is_some_and(|x| number_in_range(x, range)),
        Value::String(s) => parse_datetime(s).is_some_and(|t| micros_in_range(t, range)),
        _ => false,
    }
}

pub(crate) fn number_in_range(x: f64, range: &Range) -> bool {
    range.bounds().all(|(name, bound)| match bound {
        RangeBound::Number(b) => compare(name, x, *b),
        RangeBound::Datetime(_) => false,
    })
}

pub(crate) fn micros_in_range(t: i64, range: &Range) -> bool {
    range.bounds().all(|(name, bound)| match bound {
        RangeBound::Datetime(d) => d.micros().is_some_and(|b| compare(name, t, b)),
        RangeBound::Number(_) => false,
    })
}

fn compare<T: PartialOrd>(op: &str, x: T, bound: T) -> bool {
    match op {
        "gt" => x > bound,
        "gte" => x >= bound,
        "lt" => x < bound,
        _ => x <= bound,
    }
}

pub(crate) fn count_in(count: usize, c: &ValuesCount) -> bool {
    c.gt.is_none_or(|b| count > b)
        && c.gte.is_none_or(|b| count >= b)
        && c.lt.is_none_or(|b| count < b)
        && c.lte.is_none_or(|b| count <= b)
}

impl FieldCondition {
    /// The reference test of this condition on one payload.
    pub(crate) fn check(&self, payload: &Map<String, Value>) -> bool {
        let values = values_at(payload, &self.key);
        if let Some(m) = &self.r#match {
            return any_element(&values, |v| match_value(v, m));
        }
        if let Some(range) = self.range.as_ref().or(self.datetime_range.as_ref()) {
            return any_element(&values, |v| in_range(v, range));
        }
        if let Some(count) = &self.values_count {
            return count_in(values_count(&values), count);
        }
        if let Some(want) = self.is_empty {
            return is_empty(&values) == want;
        }
        if let Some(want) = self.is_null {
            return is_null(&values) == want;
        }
        // A condition that tests nothing fails validation; it matches nothing.
        false
    }
}

impl Condition {
    fn check(&self, id: &PointId, payload: &Map<String, Value>) -> bool {
        match self {
            Condition::Field(field) => field.check(payload),
            Condition::IsEmpty(c) => is_empty(&values_at(payload, &c.is_empty.key)),
            Condition::IsNull(c) => is_null(&values_at(payload, &c.is_null.key)),
            Condition::HasId(c) => c.has_id.contains(id),
            Condition::Nested(c) => {
                let values = values_at(payload, &c.nested.key);
                // Qdrant reads `key[]`: only objects inside an array count.
                values
                    .iter()
                    .filter_map(|v| v.as_array())
                    .flatten()
                    .filter_map(Value::as_object)
                    .any(|object| c.nested.filter.matches(id, object))
            }
            Condition::Filter(f) => f.matches(id, payload),
        }
    }
}

impl Filter {
    /// Does the point with this id and payload match? The naive reference
    /// evaluation (used for scans and to check index candidates). A filter
    /// that fails [`Filter::validate`] gives an unspecified but non-panicking
    /// answer.
    pub fn matches(&self, id: &PointId, payload: &Map<String, Value>) -> bool {
        if !self.must.iter().all(|c| c.check(id, payload)) {
            return false;
        }
        if !self.should.is_empty() && !self.should.iter().any(|c| c.check(id, payload)) {
            return false;
        }
        if let Some(min) = &self.min_should {
            let mut hits = 0;
            let enough = min.min_count == 0
                || min.conditions.iter().any(|c| {
                    hits += usize::from(c.check(id, payload));
                    hits >= min.min_count
                });
            if !enough {
                return false;
            }
        }
        !self.must_not.iter().any(|c| c.check(id, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test payloads are objects"),
        }
    }

    #[test]
    fn paths_fan_out_over_arrays_and_wildcards() {
        let p = obj(json!({"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}], "o": {"b": 5}}));
        assert_eq!(values_at(&p, "a[].b"), vec![&json!(1), &json!([2, 3])]);
        assert_eq!(values_at(&p, "a.b"), vec![&json!(1), &json!([2, 3])]);
        // `[]` on a scalar yields nothing, as in Qdrant.
        assert_eq!(values_at(&p, "a[].b[]"), vec![&json!(2), &json!(3)]);
        assert!(values_at(&p, "o[].b").is_empty());
        assert_eq!(values_at(&p, "o.b"), vec![&json!(5)]);
        assert!(values_at(&p, "missing.x").is_empty());
        assert!(values_at(&p, "").is_empty());
    }

    #[test]
    fn emptiness_nullness_and_counts() {
        let p = obj(json!({"n": null, "e": [], "a": [null], "s": "x", "l": [1, 2]}));
        for (key, empty, null, count) in [
            ("n", true, true, 0),
            ("e", true, false, 0),
            ("a", false, false, 1),
            ("missing", true, false, 0),
            ("s", false, false, 1),
            ("l", false, false, 2),
            ("a[]", true, true, 0),
        ] {
            let values = values_at(&p, key);
            assert_eq!(is_empty(&values), empty, "is_empty {key}");
            assert_eq!(is_null(&values), null, "is_null {key}");
            assert_eq!(values_count(&values), count, "values_count {key}");
        }
    }
}
