//! Planning is never wrong: for random payloads, indexes and filters, the
//! candidates contain every matching point, and are exactly the matching
//! points when the plan says `exact`. Index maintenance through removes and
//! updates leaves the same index as a fresh build.

use proptest::prelude::*;
use quiver_core::PointId;
use quiver_core::filter::{FieldType, Filter, PayloadIndexes};
use roaring::RoaringBitmap;
use serde_json::{Map, Value, json};

const DATES: [&str; 5] = [
    "2023-02-08T10:49:00Z",
    "2023-02-08T12:49:00+02:00",
    "2023-02-09",
    "2024-01-01T00:00:00.5-05:00",
    "2022-12-31 23:59:59",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(Value::from),
        prop::sample::select(vec![-1.5, -0.0, 0.0, 1.0, 2.5, 1e20]).prop_map(Value::from),
        Just(json!(u64::MAX)),
        prop::sample::select(vec!["a", "b", "ab", ""]).prop_map(Value::from),
        prop::sample::select(DATES.to_vec()).prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            (inner.clone(), inner).prop_map(|(x, y)| json!({"x": x, "y": y})),
        ]
    })
}

const KEYS: [&str; 5] = ["k", "n", "t", "o", "arr"];
const PATHS: [&str; 8] = ["k", "n", "t", "o.x", "o[].x", "arr", "arr[]", "missing"];

fn payload() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS.to_vec()), value()), 0..5)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn match_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(Value::from),
        prop::sample::select(vec!["a", "b", "ab"]).prop_map(Value::from),
        prop::sample::select(DATES.to_vec()).prop_map(Value::from),
    ]
}

fn number_bound() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![-2.0, -1.5, 0.0, 1.0, 1.5, 3.0, 1e20]).prop_map(Value::from)
}

fn range() -> impl Strategy<Value = Value> {
    let numbers = prop::collection::vec(
        (
            prop::sample::select(vec!["gt", "gte", "lt", "lte"]),
            number_bound(),
        ),
        1..3,
    );
    let dates = prop::collection::vec(
        (
            prop::sample::select(vec!["gt", "gte", "lt", "lte"]),
            prop::sample::select(DATES.to_vec()).prop_map(Value::from),
        ),
        1..3,
    );
    prop_oneof![numbers, dates].prop_map(|bounds| {
        Value::Object(
            bounds
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    })
}

fn condition_leaf() -> impl Strategy<Value = Value> {
    let key = || prop::sample::select(PATHS.to_vec());
    prop_oneof![
        (key(), match_value()).prop_map(|(k, v)| json!({"key": k, "match": {"value": v}})),
        (key(), prop::collection::vec(match_value(), 0..3)).prop_map(|(k, v)| json!({"key": k, "match": {"any": v}})),
        (key(), prop::collection::vec(match_value(), 0..3)).prop_map(|(k, v)| json!({"key": k, "match": {"except": v}})),
        (key(), prop::sample::select(vec!["a", "b", "20"])).prop_map(|(k, t)| json!({"key": k, "match": {"text": t}})),
        (key(), range()).prop_map(|(k, r)| json!({"key": k, "range": r})),
        (key(), 0usize..3).prop_map(|(k, n)| json!({"key": k, "values_count": {"gte": n}})),
        key().prop_map(|k| json!({"is_empty": {"key": k}})),
        (key(), any::<bool>()).prop_map(|(k, b)| json!({"key": k, "is_empty": b})),
        key().prop_map(|k| json!({"is_null": {"key": k}})),
        prop::collection::vec(0u64..40, 0..4).prop_map(|ids| json!({"has_id": ids})),
        (prop::sample::select(vec!["o", "arr"]), (-3i64..4))
            .prop_map(|(k, n)| json!({"nested": {"key": k, "filter": {"must": [{"key": "x", "match": {"value": n}}]}}})),
    ]
}

fn filter_json() -> impl Strategy<Value = Value> {
    condition_leaf().prop_recursive(3, 24, 4, |inner| {
        (
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner.clone(), 0..3),
            prop::collection::vec(inner.clone(), 0..3),
            prop::option::of((prop::collection::vec(inner, 0..4), 0usize..6)),
        )
            .prop_map(|(must, should, must_not, min)| {
                let mut f = json!({"must": must, "should": should, "must_not": must_not});
                if let Some((conditions, min_count)) = min {
                    f["min_should"] = json!({"conditions": conditions, "min_count": min_count});
                }
                f
            })
    })
}

fn field_type() -> impl Strategy<Value = FieldType> {
    prop::sample::select(vec![
        FieldType::Keyword,
        FieldType::Integer,
        FieldType::Float,
        FieldType::Bool,
        FieldType::Datetime,
    ])
}

/// Every path indexed with probability 3/4, with a random type.
fn index_set() -> impl Strategy<Value = Vec<(&'static str, FieldType)>> {
    prop::collection::vec(prop::option::weighted(0.75, field_type()), PATHS.len()).prop_map(
        |types| {
            PATHS
                .iter()
                .zip(types)
                .filter_map(|(path, ty)| ty.map(|ty| (*path, ty)))
                .collect()
        },
    )
}

fn resolve(id: &PointId) -> Option<u32> {
    match id {
        PointId::Num(n) => u32::try_from(*n).ok(),
        PointId::Uuid(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn plan_agrees_with_naive_evaluation(
        payloads in prop::collection::vec(payload(), 1..40),
        updates in prop::collection::vec((0usize..40, payload()), 0..10),
        deleted in prop::collection::vec(0usize..40, 0..6),
        indexes in index_set(),
        filters in prop::collection::vec(filter_json(), 1..6),
    ) {
        let mut points: Vec<Map<String, Value>> = payloads;
        let mut index = PayloadIndexes::new();
        for (field, ty) in &indexes {
            index.create(field, *ty, std::iter::empty()).unwrap();
        }
        for (id, p) in points.iter().enumerate() {
            index.insert(id as u32, p);
        }
        for (at, new) in updates {
            let id = at % points.len();
            index.remove(id as u32, &points[id]);
            index.insert(id as u32, &new);
            points[id] = new;
        }
        let mut all: RoaringBitmap = (0..points.len() as u32).collect();
        for at in deleted {
            let id = at % points.len();
            if all.remove(id as u32) {
                index.remove(id as u32, &points[id]);
            }
        }
        // Maintenance: the same as building from the live points.
        let mut fresh = PayloadIndexes::new();
        for (field, ty) in &indexes {
            fresh
                .create(field, *ty, all.iter().map(|id| (id, &points[id as usize])))
                .unwrap();
        }
        prop_assert_eq!(&index, &fresh);

        for f in filters {
            let f = json!({"must": [f]});
            let filter: Filter = serde_json::from_value(f.clone()).unwrap();
            let expected: RoaringBitmap = all
                .iter()
                .filter(|&id| filter.matches(&PointId::Num(u64::from(id)), &points[id as usize]))
                .collect();
            let plan = index.plan(&filter, &all, &resolve);
            prop_assert!(plan.candidates.is_subset(&all), "candidates outside all for {}", f);
            prop_assert!(expected.is_subset(&plan.candidates), "missed matches for {}", f);
            if plan.exact {
                prop_assert_eq!(&plan.candidates, &expected, "exact plan wrong for {}", f);
                prop_assert_eq!(plan.estimate, expected.len());
            }
            prop_assert!(plan.estimate <= all.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// One condition, plain and negated, against densely indexed paths: each
    /// leaf's planning is checked directly rather than inside a big tree.
    #[test]
    fn single_condition_plans_agree(
        payloads in prop::collection::vec(payload(), 1..30),
        indexes in index_set(),
        condition in condition_leaf(),
        negate in any::<bool>(),
    ) {
        let mut index = PayloadIndexes::new();
        for (field, ty) in &indexes {
            index
                .create(field, *ty, payloads.iter().enumerate().map(|(i, p)| (i as u32, p)))
                .unwrap();
        }
        let all: RoaringBitmap = (0..payloads.len() as u32).collect();
        let f = if negate { json!({"must_not": [condition]}) } else { json!({"must": [condition]}) };
        let filter: Filter = serde_json::from_value(f.clone()).unwrap();
        let expected: RoaringBitmap = all
            .iter()
            .filter(|&id| filter.matches(&PointId::Num(u64::from(id)), &payloads[id as usize]))
            .collect();
        let plan = index.plan(&filter, &all, &resolve);
        prop_assert!(expected.is_subset(&plan.candidates), "missed matches for {}", f);
        if plan.exact {
            prop_assert_eq!(&plan.candidates, &expected, "exact plan wrong for {}", f);
        }
    }
}

/// One index of each type, on the fields the tests' payloads use.
const INDEXED: [(&str, FieldType); 5] = [
    ("k", FieldType::Keyword),
    ("n", FieldType::Integer),
    ("f", FieldType::Float),
    ("b", FieldType::Bool),
    ("t", FieldType::Datetime),
];

/// Indexes of `fields` over `points`, point `i` at internal id `i`.
fn indexed(points: &[Map<String, Value>], fields: &[(&str, FieldType)]) -> PayloadIndexes {
    let mut index = PayloadIndexes::new();
    for &(field, ty) in fields {
        index
            .create(
                field,
                ty,
                points.iter().enumerate().map(|(i, p)| (i as u32, p)),
            )
            .expect("test data is well-formed");
    }
    index
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("test data is well-formed").clone()
}

fn plan_of(index: &PayloadIndexes, all: &RoaringBitmap, f: Value) -> (Vec<u32>, bool) {
    let filter: Filter = serde_json::from_value(f).expect("test data is well-formed");
    let plan = index.plan(&filter, all, &resolve);
    (plan.candidates.iter().collect(), plan.exact)
}

#[test]
fn indexed_conditions_plan_exactly() {
    let points = [
        obj(json!({"k": "red", "n": 1, "f": 1.5, "b": true, "t": "2023-01-01T00:00:00Z"})),
        obj(
            json!({"k": ["blue", "red"], "n": [2, 3], "f": 3, "b": false, "t": "2023-06-01T00:00:00+02:00"}),
        ),
        obj(json!({"k": "green", "n": 5, "f": -0.0, "t": "2024-01-01"})),
        obj(json!({})),
    ];
    let index = indexed(&points, &INDEXED);
    let all: RoaringBitmap = (0..4).collect();
    let cases = [
        (
            json!({"must": [{"key": "k", "match": {"value": "red"}}]}),
            vec![0, 1],
        ),
        (
            json!({"must": [{"key": "k", "match": {"any": ["blue", "green"]}}]}),
            vec![1, 2],
        ),
        (
            json!({"must": [{"key": "k", "match": {"except": ["red"]}}]}),
            vec![1, 2],
        ),
        (
            json!({"must": [{"key": "k", "match": {"text": "ee"}}]}),
            vec![2],
        ),
        (
            json!({"must": [{"key": "n", "match": {"value": 3}}]}),
            vec![1],
        ),
        (
            json!({"must": [{"key": "n", "range": {"gt": 1, "lte": 5}}]}),
            vec![1, 2],
        ),
        (
            json!({"must": [{"key": "f", "range": {"gte": 0.0, "lt": 3}}]}),
            vec![0, 2],
        ),
        (
            json!({"must": [{"key": "b", "match": {"value": false}}]}),
            vec![1],
        ),
        (
            json!({"must": [{"key": "t", "range": {"gte": "2023-05-31T22:00:00Z", "lt": "2024-01-01T00:00:00Z"}}]}),
            vec![1],
        ),
        (json!({"must": [{"is_empty": {"key": "b"}}]}), vec![2, 3]),
        (
            json!({"must_not": [{"key": "k", "match": {"value": "red"}}]}),
            vec![2, 3],
        ),
        (
            json!({"should": [{"key": "b", "match": {"value": true}}, {"has_id": [2]}]}),
            vec![0, 2],
        ),
    ];
    for (f, want) in cases {
        let (got, exact) = plan_of(&index, &all, f.clone());
        assert!(exact, "{f} should plan exactly");
        assert_eq!(got, want, "{f}");
    }
    // Not answerable by the indexes: all live points, checked by the caller.
    let (got, exact) = plan_of(
        &index,
        &all,
        json!({"must": [{"key": "other", "match": {"value": 1}}]}),
    );
    assert!(!exact);
    assert_eq!(got, vec![0, 1, 2, 3]);
    // An indexed AND an unindexed condition: the index still narrows.
    let (got, exact) = plan_of(
        &index,
        &all,
        json!({"must": [{"key": "k", "match": {"value": "red"}}, {"key": "other", "match": {"value": 1}}]}),
    );
    assert!(!exact);
    assert_eq!(got, vec![0, 1]);
}

/// A `min_count` above the number of conditions matches nothing, and a
/// huge one costs no more than a small one (it once sized a buffer).
#[test]
fn min_count_beyond_the_conditions_plans_an_empty_set() {
    let points = [obj(json!({"k": "red"})), obj(json!({"k": "blue"}))];
    let index = indexed(&points, &INDEXED);
    let all: RoaringBitmap = (0..2).collect();
    for min_count in [3u64, 444_444_444_440, u64::MAX] {
        let f = json!({"min_should": {
            "conditions": [{"key": "k", "match": {"value": "red"}}, {"key": "z", "match": {"value": 1}}],
            "min_count": min_count,
        }});
        let filter: Filter = serde_json::from_value(f.clone()).expect("test data is well-formed");
        assert!(
            !points
                .iter()
                .enumerate()
                .any(|(i, p)| filter.matches(&PointId::Num(i as u64), p))
        );
        assert_eq!(
            plan_of(&index, &all, f),
            (vec![], true),
            "min_count {min_count}"
        );
    }
}

#[test]
fn values_of_another_type_keep_the_plan_correct() {
    let points = [
        obj(json!({"n": 1})),
        obj(json!({"n": 1.0})),
        obj(json!({"n": "1"})),
        obj(json!({"n": 2.5})),
    ];
    let mut index = PayloadIndexes::new();
    index
        .create(
            "n",
            FieldType::Integer,
            points.iter().enumerate().map(|(i, p)| (i as u32, p)),
        )
        .unwrap();
    let all: RoaringBitmap = (0..4).collect();
    // Only integers can equal an integer: the integer index is complete.
    assert_eq!(
        plan_of(
            &index,
            &all,
            json!({"must": [{"key": "n", "match": {"value": 1}}]})
        ),
        (vec![0], true)
    );
    // Floats can fall in a range but are not in an integer index.
    let (got, exact) = plan_of(
        &index,
        &all,
        json!({"must": [{"key": "n", "range": {"gte": 1}}]}),
    );
    assert!(!exact);
    assert!(got.contains(&0) && got.contains(&1) && got.contains(&3));
}

#[test]
fn index_follows_insert_update_and_remove() {
    let mut index = PayloadIndexes::new();
    index
        .create("k", FieldType::Keyword, std::iter::empty())
        .unwrap();
    let all: RoaringBitmap = (0..3).collect();
    let red = json!({"must": [{"key": "k", "match": {"value": "red"}}]});
    let old = obj(json!({"k": "red"}));
    index.insert(0, &old);
    index.insert(1, &obj(json!({"k": ["red", "blue"]})));
    assert_eq!(plan_of(&index, &all, red.clone()).0, vec![0, 1]);
    let new = obj(json!({"k": "blue"}));
    index.remove(0, &old);
    index.insert(0, &new);
    assert_eq!(plan_of(&index, &all, red.clone()).0, vec![1]);
    index.remove(1, &obj(json!({"k": ["red", "blue"]})));
    assert_eq!(plan_of(&index, &all, red).0, Vec::<u32>::new());
    assert_eq!(
        index.field_counts(),
        vec![("k".to_string(), FieldType::Keyword, 1)]
    );
    assert!(index.drop_index("k"));
    assert!(!index.drop_index("k"));
    assert!(index.fields().is_empty());
    assert!(
        index
            .create("", FieldType::Keyword, std::iter::empty())
            .is_err()
    );
}

fn sample_indexes() -> PayloadIndexes {
    let points: Vec<Map<String, Value>> = (0..500)
        .map(|i| {
            obj(json!({
                "k": format!("v{}", i % 7),
                "n": i,
                "f": f64::from(i) / 3.0,
                "b": i % 2 == 0,
                "t": format!("2023-01-{:02}T00:00:00Z", 1 + i % 28),
                "mixed": if i % 3 == 0 { json!("s") } else { json!(i) },
            }))
        })
        .collect();
    let mut fields = INDEXED.to_vec();
    fields.push(("mixed", FieldType::Integer));
    indexed(&points, &fields)
}

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("payload_index.bin");
    let index = sample_indexes();
    assert!(index.memory_bytes() > 0);
    index.save(&path).unwrap();
    assert_eq!(PayloadIndexes::load(&path).unwrap(), index);
    // Saving again replaces the file whole.
    let mut smaller = index.clone();
    smaller.drop_index("k");
    smaller.save(&path).unwrap();
    assert_eq!(PayloadIndexes::load(&path).unwrap(), smaller);
    let missing = PayloadIndexes::load(&dir.path().join("nope")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn corrupt_index_files_are_invalid_data() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("payload_index.bin");
    sample_indexes().save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad.bin");
    let step = (good.len() / 300).max(1);
    for at in (0..good.len()).step_by(step) {
        let mut bytes = good.clone();
        bytes[at] ^= 0x5a;
        std::fs::write(&bad, &bytes).unwrap();
        let err = PayloadIndexes::load(&bad).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "flip at {at}");
        std::fs::write(&bad, &good[..at]).unwrap();
        let err = PayloadIndexes::load(&bad).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "cut at {at}");
    }
    std::fs::write(&bad, b"").unwrap();
    assert_eq!(
        PayloadIndexes::load(&bad).unwrap_err().kind(),
        std::io::ErrorKind::InvalidData
    );
}
