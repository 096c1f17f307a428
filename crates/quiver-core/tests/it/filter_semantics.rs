//! Filter semantics against Qdrant's documented behaviour, the JSON shapes
//! Qdrant clients send, and validation messages.

use quiver_core::filter::{Condition, Filter, Match, MatchValue};
use quiver_core::{ErrorKind, PointId};
use serde_json::{Map, Value, json};

fn filter(v: Value) -> Filter {
    let f: Filter = serde_json::from_value(v).expect("test data is well-formed");
    f.validate().expect("test data is well-formed");
    f
}

fn payload(v: Value) -> Map<String, Value> {
    v.as_object().expect("test data is well-formed").clone()
}

fn hits(f: Value, p: Value) -> bool {
    filter(f).matches(&PointId::Num(1), &payload(p))
}

fn field(key: &str, test: &str, arg: Value) -> Value {
    json!({"must": [{"key": key, test: arg}]})
}

#[test]
fn empty_filter_matches_everything() {
    assert!(hits(json!({}), json!({})));
    assert!(hits(
        json!({"must": [], "should": [], "must_not": []}),
        json!({"a": 1})
    ));
    assert!(hits(json!({"must": null, "should": null}), json!({"a": 1})));
}

#[test]
fn must_should_must_not_follow_qdrant_clauses() {
    let london_red = json!({"city": "London", "color": "red"});
    let must = json!({"must": [
        {"key": "city", "match": {"value": "London"}},
        {"key": "color", "match": {"value": "red"}}]});
    assert!(hits(must.clone(), london_red.clone()));
    assert!(!hits(must, json!({"city": "London", "color": "blue"})));
    let should = json!({"should": [
        {"key": "city", "match": {"value": "Berlin"}},
        {"key": "color", "match": {"value": "red"}}]});
    assert!(hits(should.clone(), london_red.clone()));
    assert!(!hits(should, json!({"city": "Moscow", "color": "blue"})));
    let must_not = json!({"must_not": [
        {"key": "city", "match": {"value": "Berlin"}},
        {"key": "color", "match": {"value": "blue"}}]});
    assert!(hits(must_not.clone(), london_red.clone()));
    assert!(!hits(must_not, json!({"city": "Berlin", "color": "red"})));
    // A single condition instead of a list is accepted, as in Qdrant.
    assert!(hits(
        json!({"must": {"key": "city", "match": {"value": "London"}}}),
        london_red
    ));
}

#[test]
fn min_should_counts_matching_conditions() {
    let f = json!({"min_should": {"min_count": 2, "conditions": [
        {"key": "a", "match": {"value": 1}},
        {"key": "b", "match": {"value": 1}},
        {"key": "c", "match": {"value": 1}}]}});
    assert!(hits(f.clone(), json!({"a": 1, "c": 1})));
    assert!(!hits(f, json!({"a": 1, "b": 2})));
}

#[test]
fn match_value_on_scalars_and_arrays() {
    let f = field("color", "match", json!({"value": "red"}));
    assert!(hits(f.clone(), json!({"color": "red"})));
    assert!(hits(f.clone(), json!({"color": ["blue", "red"]})));
    assert!(!hits(f.clone(), json!({"color": ["blue"]})));
    assert!(!hits(f.clone(), json!({"color": null})));
    assert!(!hits(f.clone(), json!({})));
    assert!(
        !hits(f, json!({"color": [["red"]]})),
        "arrays inside arrays are not flattened"
    );
    assert!(hits(
        field("ok", "match", json!({"value": true})),
        json!({"ok": true})
    ));
    assert!(!hits(
        field("ok", "match", json!({"value": true})),
        json!({"ok": "true"})
    ));
}

#[test]
fn integers_do_not_equal_floats_in_match_but_do_in_range() {
    let f = field("n", "match", json!({"value": 1}));
    assert!(hits(f.clone(), json!({"n": 1})));
    assert!(!hits(f.clone(), json!({"n": 1.0})));
    assert!(!hits(f, json!({"n": "1"})));
    let r = field("n", "range", json!({"gte": 1, "lte": 1}));
    assert!(hits(r.clone(), json!({"n": 1})));
    assert!(hits(r.clone(), json!({"n": 1.0})));
    assert!(!hits(r, json!({"n": "1"})));
    assert!(serde_json::from_value::<Filter>(field("n", "match", json!({"value": 1.5}))).is_err());
}

#[test]
fn match_any_and_except() {
    let any = field("c", "match", json!({"any": ["black", "yellow"]}));
    assert!(hits(any.clone(), json!({"c": "black"})));
    assert!(hits(any.clone(), json!({"c": ["red", "yellow"]})));
    assert!(!hits(any.clone(), json!({"c": "red"})));
    assert!(!hits(any, json!({})));
    assert!(!hits(
        field("c", "match", json!({"any": []})),
        json!({"c": "red"})
    ));
    let except = field("c", "match", json!({"except": ["black", "yellow"]}));
    assert!(hits(except.clone(), json!({"c": "red"})));
    assert!(!hits(except.clone(), json!({"c": "black"})));
    // An array matches if at least one element is not excluded.
    assert!(hits(except.clone(), json!({"c": ["black", "red"]})));
    assert!(!hits(except.clone(), json!({"c": ["black", "yellow"]})));
    // Missing, null and [] have no value to be "other than" the list.
    assert!(!hits(except.clone(), json!({})));
    assert!(!hits(except.clone(), json!({"c": null})));
    assert!(!hits(except.clone(), json!({"c": []})));
    // Values of another type are not in the list.
    assert!(hits(except, json!({"c": 5})));
    let ints = field("n", "match", json!({"except": [1, 2]}));
    assert!(hits(ints.clone(), json!({"n": 3})));
    assert!(!hits(ints.clone(), json!({"n": 2})));
    assert!(hits(ints, json!({"n": 2.0})));
}

#[test]
fn match_text_is_a_substring_test_on_strings() {
    let f = field("d", "match", json!({"text": "good cheap"}));
    assert!(hits(f.clone(), json!({"d": "very good cheap food"})));
    assert!(!hits(f.clone(), json!({"d": "good and cheap"})));
    assert!(hits(f.clone(), json!({"d": ["x", "good cheap"]})));
    assert!(!hits(f, json!({"d": 5})));
}

#[test]
fn numeric_ranges_on_ints_floats_and_arrays() {
    let f = field("price", "range", json!({"gt": 10, "lte": 20.5}));
    assert!(!hits(f.clone(), json!({"price": 10})));
    assert!(hits(f.clone(), json!({"price": 10.01})));
    assert!(hits(f.clone(), json!({"price": 20.5})));
    assert!(!hits(f.clone(), json!({"price": 21})));
    assert!(hits(f.clone(), json!({"price": [1, 15]})));
    assert!(!hits(f.clone(), json!({"price": null})));
    assert!(!hits(f, json!({"price": "15"})));
    assert!(hits(
        field("t", "range", json!({"gte": -1.5})),
        json!({"t": -1})
    ));
}

#[test]
fn datetime_ranges_compare_instants_across_timezones() {
    let f = field(
        "at",
        "datetime_range",
        json!({"gte": "2023-02-08T10:49:00Z", "lt": "2023-02-08T11:00:00+00:00"}),
    );
    assert!(hits(f.clone(), json!({"at": "2023-02-08T10:49:00Z"})));
    // 12:50 at +02:00 is 10:50 UTC.
    assert!(hits(f.clone(), json!({"at": "2023-02-08T12:50:00+02:00"})));
    assert!(!hits(f.clone(), json!({"at": "2023-02-08T11:50:00+02:00"})));
    assert!(hits(f.clone(), json!({"at": "2023-02-08T10:59:59.999999"})));
    assert!(hits(f.clone(), json!({"at": "2023-02-08 10:55:00"})));
    assert!(!hits(f.clone(), json!({"at": "not a date"})));
    assert!(!hits(f.clone(), json!({"at": 1675853340})));
    // Datetime strings are accepted in `range` too.
    let g = field("at", "range", json!({"gt": "2023-02-08"}));
    assert!(hits(g.clone(), json!({"at": "2023-02-08T00:00:01Z"})));
    assert!(!hits(g, json!({"at": "2023-02-07T23:59:59-00:00"})));
}

#[test]
fn is_empty_and_is_null_follow_qdrant() {
    let empty = json!({"must": [{"is_empty": {"key": "r"}}]});
    let null = json!({"must": [{"is_null": {"key": "r"}}]});
    for (p, is_empty, is_null) in [
        (json!({}), true, false),
        (json!({"r": null}), true, true),
        (json!({"r": []}), true, false),
        (json!({"r": [null]}), false, false),
        (json!({"r": 0}), false, false),
        (json!({"r": ""}), false, false),
        (json!({"r": {}}), false, false),
        (json!({"r": [1]}), false, false),
    ] {
        assert_eq!(hits(empty.clone(), p.clone()), is_empty, "is_empty on {p}");
        assert_eq!(hits(null.clone(), p.clone()), is_null, "is_null on {p}");
    }
    // Through arrays of objects: some element holds null.
    let nested_null = json!({"must": [{"is_null": {"key": "a[].b"}}]});
    assert!(hits(
        nested_null.clone(),
        json!({"a": [{"b": 1}, {"b": null}]})
    ));
    assert!(!hits(nested_null, json!({"a": [{"b": 1}, {"c": null}]})));
    // The FieldCondition spelling.
    assert!(hits(
        json!({"must": [{"key": "r", "is_empty": true}]}),
        json!({})
    ));
    assert!(hits(
        json!({"must": [{"key": "r", "is_empty": false}]}),
        json!({"r": 1})
    ));
}

#[test]
fn values_count_counts_array_elements() {
    let f = field("c", "values_count", json!({"gt": 2}));
    assert!(hits(f.clone(), json!({"c": [1, 2, 3]})));
    assert!(!hits(f.clone(), json!({"c": [1, 2]})));
    assert!(!hits(f, json!({"c": 1})));
    let lt = field("c", "values_count", json!({"lt": 1}));
    assert!(hits(lt.clone(), json!({})));
    assert!(hits(lt.clone(), json!({"c": []})));
    assert!(!hits(lt, json!({"c": "x"})));
}

#[test]
fn has_id_takes_numbers_and_uuids() {
    let f = filter(json!({"must": [{"has_id": [1, 3, "550e8400-e29b-41d4-a716-446655440000"]}]}));
    let p = Map::new();
    assert!(f.matches(&PointId::Num(3), &p));
    assert!(!f.matches(&PointId::Num(2), &p));
    let u = PointId::Uuid("550e8400-e29b-41d4-a716-446655440000".parse().unwrap());
    assert!(f.matches(&u, &p));
}

#[test]
fn dotted_keys_and_arrays_of_objects() {
    let p = json!({"country": {"name": "Germany", "cities": [
        {"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"]},
        {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz"]}]}});
    assert!(hits(
        field("country.name", "match", json!({"value": "Germany"})),
        p.clone()
    ));
    assert!(hits(
        field("country.cities[].population", "range", json!({"gte": 3.0})),
        p.clone()
    ));
    assert!(hits(
        field(
            "country.cities[].sightseeing",
            "match",
            json!({"value": "Marienplatz"})
        ),
        p.clone()
    ));
    // Arrays met without `[]` fan out too.
    assert!(hits(
        field("country.cities.name", "match", json!({"value": "Munich"})),
        p.clone()
    ));
    assert!(!hits(
        field("country.cities[].name", "match", json!({"value": "Paris"})),
        p
    ));
}

#[test]
fn nested_requires_one_object_to_match_the_whole_filter() {
    let p = json!({"diet": [
        {"food": "meat", "likes": false},
        {"food": "leaves", "likes": true}]});
    let flat = json!({"must": [
        {"key": "diet[].food", "match": {"value": "meat"}},
        {"key": "diet[].likes", "match": {"value": true}}]});
    assert!(
        hits(flat, p.clone()),
        "flat conditions may match different elements"
    );
    let nested = json!({"must": [{"nested": {"key": "diet", "filter": {"must": [
        {"key": "food", "match": {"value": "meat"}},
        {"key": "likes", "match": {"value": true}}]}}}]});
    assert!(!hits(nested.clone(), p));
    assert!(hits(
        nested,
        json!({"diet": [{"food": "meat", "likes": true}]})
    ));
}

#[test]
fn nested_filters_as_conditions() {
    let f = json!({"must_not": [{"must": [
        {"key": "a", "match": {"value": 1}},
        {"key": "b", "match": {"value": 1}}]}]});
    assert!(!hits(f.clone(), json!({"a": 1, "b": 1})));
    assert!(hits(f, json!({"a": 1, "b": 2})));
    let wrapped = json!({"should": [{"filter": {"must": [{"key": "a", "match": {"value": 1}}]}}]});
    assert!(hits(wrapped.clone(), json!({"a": 1})));
    assert!(!hits(wrapped, json!({"a": 2})));
}

#[test]
fn qdrant_request_shapes_deserialise_and_round_trip() {
    let bodies = [
        json!({"must": [{"key": "city", "match": {"value": "London"}}]}),
        json!({"should": [{"key": "count", "match": {"any": [1, 2, 3]}}]}),
        json!({"must_not": [{"key": "color", "match": {"except": ["black"]}}]}),
        json!({"must": [{"key": "description", "match": {"text": "good cheap"}}]}),
        json!({"must": [{"key": "price", "range": {"gt": null, "gte": 100.0, "lt": null, "lte": 450.0}}]}),
        json!({"must": [{"key": "date", "range": {"gt": "2023-02-08T10:49:00Z", "lte": "2024-01-31 10:14:31Z"}}]}),
        json!({"must": [{"key": "date", "datetime_range": {"gte": "2023-02-08"}}]}),
        json!({"must": [{"key": "comments", "values_count": {"gt": 2}}]}),
        json!({"must": [{"is_empty": {"key": "reports"}}]}),
        json!({"must": [{"is_null": {"key": "reports"}}]}),
        json!({"must": [{"has_id": [1, 3, 5, 7, 9, 11]}]}),
        json!({"must": [{"nested": {"key": "diet", "filter": {"must": [{"key": "food", "match": {"value": "meat"}}]}}}]}),
        json!({"must": [{"key": "city", "match": {"value": "London"}}, {"must_not": [{"key": "color", "match": {"value": "red"}}]}]}),
        json!({"min_should": {"conditions": [{"key": "a", "match": {"value": true}}], "min_count": 1}}),
    ];
    for body in bodies {
        let f: Filter =
            serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"));
        f.validate().unwrap_or_else(|e| panic!("{body}: {e}"));
        let again: Filter = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(again, f, "{body}");
    }
    let f: Filter =
        serde_json::from_value(json!({"must": [{"key": "k", "match": {"value": "v"}}]})).unwrap();
    let Condition::Field(c) = &f.must[0] else {
        panic!("not a field condition")
    };
    assert_eq!(
        c.r#match,
        Some(Match::Value {
            value: MatchValue::Keyword("v".into())
        })
    );
}

fn validation_error(v: Value) -> String {
    let f: Filter = serde_json::from_value(v).expect("test data is well-formed");
    let e = f.validate().expect_err("test data is invalid");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    e.to_string()
}

fn parse_error(v: Value) -> String {
    serde_json::from_value::<Filter>(v)
        .expect_err("test data is invalid")
        .to_string()
}

#[test]
fn validation_names_the_key_and_the_problem() {
    let e = validation_error(json!({"must": [{"key": "", "match": {"value": 1}}]}));
    assert!(e.contains("key is empty"), "{e}");
    let e = validation_error(json!({"must": [{"key": "price", "range": {}}]}));
    assert!(e.contains("range on `price` has no bound"), "{e}");
    let e = validation_error(json!({"must": [{"key": "at", "range": {"gt": "yesterday"}}]}));
    assert!(e.contains("`yesterday` is not an RFC 3339 datetime"), "{e}");
    let e =
        validation_error(json!({"must": [{"key": "at", "range": {"gt": 1, "lt": "2023-01-01"}}]}));
    assert!(e.contains("mixes number and datetime"), "{e}");
    let e = validation_error(json!({"must": [{"key": "at", "datetime_range": {"gt": 1}}]}));
    assert!(e.contains("datetime_range on `at`"), "{e}");
    let e = validation_error(json!({"must": [{"key": "a..b", "match": {"value": 1}}]}));
    assert!(e.contains("empty step"), "{e}");
    let e = validation_error(json!({"must": [{"key": "a[0]", "match": {"value": 1}}]}));
    assert!(e.contains("may only end in `[]`"), "{e}");
    let e = validation_error(json!({"must": [{"key": "a"}]}));
    assert!(e.contains("tests nothing"), "{e}");
    let e = validation_error(
        json!({"must": [{"key": "a", "match": {"value": 1}, "range": {"gt": 1}}]}),
    );
    assert!(e.contains("match and range"), "{e}");
    let e = validation_error(json!({"must": [{"key": "a", "values_count": {}}]}));
    assert!(e.contains("values_count on `a` has no bound"), "{e}");
    let e = validation_error(json!({"should": [{"must": [{"is_null": {"key": ""}}]}]}));
    assert!(e.contains("is_null condition"), "{e}");
    let e = validation_error(
        json!({"must": [{"nested": {"key": "d", "filter": {"must": [{"key": "x", "range": {}}]}}}]}),
    );
    assert!(e.contains("range on `x`"), "{e}");
}

#[test]
fn malformed_shapes_are_serde_errors_that_say_what_is_wrong() {
    assert!(parse_error(json!({"musst": []})).contains("musst"));
    assert!(parse_error(json!({"must": [{"key": "a", "geo_radius": {}}]})).contains("geo_radius"));
    assert!(
        parse_error(json!({"must": [{"key": "a", "match": {"valu": 1}}]}))
            .contains("unknown match `valu`")
    );
    assert!(
        parse_error(json!({"must": [{"key": "a", "match": {"value": [1]}}]}))
            .contains("string, integer or bool")
    );
    assert!(parse_error(json!({"must": [{"frobnicate": 1}]})).contains("unknown condition"));
    assert!(parse_error(json!({"must": [7]})).contains("must be an object"));
    assert!(parse_error(json!({"must": "a"})).contains("condition or a list"));
    assert!(
        parse_error(json!({"must": [{"key": "a", "range": {"gt": true}}]})).contains("range bound")
    );
    assert!(parse_error(json!({"must": [{"has_id": ["nope"]}]})).contains("has_id"));
}
