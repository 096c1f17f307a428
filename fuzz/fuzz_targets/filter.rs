//! The filter language: bytes parsed as a filter JSON and validated; a
//! valid filter is evaluated on fixed payloads and planned over payload
//! indexes of them, and the plan must hold what it promises (candidates a
//! superset of the matching points, exactly them when `exact`); a filter
//! must survive a JSON round trip.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use quiver_core::PointId;
use quiver_core::filter::{FieldType, Filter, PayloadIndexes};
use roaring::RoaringBitmap;
use serde_json::{Map, Value, json};

struct Fixture {
    payloads: Vec<Map<String, Value>>,
    indexes: PayloadIndexes,
    all: RoaringBitmap,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let docs = [
            json!({"city": "London", "n": 1, "price": 9.5, "ok": true, "tags": ["a", "b"], "when": "2024-01-02T03:04:05Z"}),
            json!({"city": ["Paris", "London"], "n": -3, "price": 100, "ok": false, "nested": {"k": 1}}),
            json!({"city": null, "n": [1, 2, 3], "price": "cheap", "tags": [], "items": [{"v": 1}, {"v": 2}]}),
            json!({"n": 1e3, "price": -0.0, "ok": [true, false], "when": "2023-12-31"}),
            json!({"city": "Berlin", "nested": {"k": [1, 2], "deep": {"x": "y"}}, "items": [{"v": 3, "w": "z"}]}),
            json!({}),
            json!({"city": "", "n": 18446744073709551615u64, "price": 1.5e300, "tags": ["a"]}),
            json!({"city": "London", "n": 2, "ok": true, "when": 1700000000}),
        ];
        let payloads: Vec<Map<String, Value>> =
            docs.iter().map(|d| d.as_object().cloned().unwrap_or_default()).collect();
        let mut indexes = PayloadIndexes::new();
        let fields = [
            ("city", FieldType::Keyword),
            ("n", FieldType::Integer),
            ("price", FieldType::Float),
            ("ok", FieldType::Bool),
            ("when", FieldType::Datetime),
            ("tags", FieldType::Keyword),
            ("nested.k", FieldType::Integer),
        ];
        for (field, ty) in fields {
            let existing = payloads.iter().enumerate().map(|(i, p)| (i as u32, p));
            if indexes.create(field, ty, existing).is_err() {
                panic!("fixture index {field}");
            }
        }
        let all = (0..payloads.len() as u32).collect();
        Fixture { payloads, indexes, all }
    })
}

fn id_of(i: u32) -> PointId {
    PointId::Num(u64::from(i) * 10)
}

fuzz_target!(|data: &[u8]| {
    let Ok(filter) = serde_json::from_slice::<Filter>(data) else {
        return;
    };
    let valid = filter.validate();
    if let Ok(text) = serde_json::to_vec(&filter) {
        match serde_json::from_slice::<Filter>(&text) {
            Ok(again) => {
                assert_eq!(again, filter, "filter JSON round trip");
                assert_eq!(
                    again.validate().is_ok(),
                    valid.is_ok(),
                    "validation after round trip"
                );
            }
            Err(e) => panic!("a filter's own JSON does not parse: {e}"),
        }
    }
    if valid.is_err() {
        return;
    }
    let f = fixture();
    let matching: RoaringBitmap = (0..f.payloads.len() as u32)
        .filter(|&i| filter.matches(&id_of(i), &f.payloads[i as usize]))
        .collect();
    let resolve = |id: &PointId| match id {
        PointId::Num(n) if n % 10 == 0 && *n / 10 < f.payloads.len() as u64 => {
            Some((*n / 10) as u32)
        }
        _ => None,
    };
    let plan = f.indexes.plan(&filter, &f.all, &resolve);
    assert!(
        plan.candidates.is_superset(&matching),
        "plan misses matching points"
    );
    assert!(
        plan.candidates.is_subset(&f.all),
        "plan holds ids that are not live"
    );
    if plan.exact {
        assert_eq!(
            plan.candidates, matching,
            "exact plan differs from evaluation"
        );
    }
});
