//! Planning: turn a filter into a candidate bitmap using the payload indexes.
//!
//! Every node yields a set that is a superset of the ids it matches among
//! `all`, and says whether the set is exact. AND intersects, OR unions, NOT
//! subtracts an exact child from `all` (an inexact child under NOT can rule
//! nothing out, so the node keeps `all` and turns inexact). A condition the
//! indexes cannot answer yields `all`, inexact.

use std::ops::Bound;

use roaring::{MultiOps, RoaringBitmap};

use super::eval::{micros_in_range, number_in_range};
use super::parse::{Condition, FieldCondition, Filter, Match, MatchValue, Range, RangeBound};
use super::payload_index::{FieldIndex, FloatKey, Keys, PayloadIndexes};
use crate::PointId;

/// The result of planning a filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// A superset of the matching ids among `all`, or exactly them if `exact`.
    pub candidates: RoaringBitmap,
    /// True if `candidates` is exactly the matching set; otherwise the caller
    /// checks [`Filter::matches`] on each candidate.
    pub exact: bool,
    /// Estimated number of matching points, to choose between an exact scan
    /// of the candidates and a filtered HNSW search.
    pub estimate: u64,
}

struct Node {
    set: RoaringBitmap,
    exact: bool,
    estimate: u64,
}

impl Node {
    fn exact(set: RoaringBitmap) -> Self {
        let estimate = set.len();
        Node {
            set,
            exact: true,
            estimate,
        }
    }

    fn superset(set: RoaringBitmap) -> Self {
        let estimate = set.len();
        Node {
            set,
            exact: false,
            estimate,
        }
    }
}

impl PayloadIndexes {
    /// Candidate set for `filter` among the live ids `all`.
    ///
    /// `candidates` is always a subset of `all` and a superset of the
    /// matching ids; when `exact` it is exactly the matching ids. `resolve`
    /// maps the external ids of `has_id` to internal ids (unknown ids are
    /// skipped).
    pub fn plan(
        &self,
        filter: &Filter,
        all: &RoaringBitmap,
        resolve: &dyn Fn(&PointId) -> Option<u32>,
    ) -> Plan {
        let planner = Planner {
            indexes: self,
            all,
            resolve,
        };
        let node = planner.filter(filter);
        let candidates = node.set & all;
        let estimate = if node.exact {
            candidates.len()
        } else {
            node.estimate.min(candidates.len())
        };
        Plan {
            candidates,
            exact: node.exact,
            estimate,
        }
    }
}

struct Planner<'a> {
    indexes: &'a PayloadIndexes,
    all: &'a RoaringBitmap,
    resolve: &'a dyn Fn(&PointId) -> Option<u32>,
}

impl Planner<'_> {
    fn everything(&self) -> Node {
        Node::superset(self.all.clone())
    }

    fn filter(&self, filter: &Filter) -> Node {
        let mut set = self.all.clone();
        let mut exact = true;
        let mut estimate = self.all.len();
        let mut and = |node: Node, set: &mut RoaringBitmap| {
            *set &= &node.set;
            exact &= node.exact;
            estimate = estimate.min(node.estimate);
        };
        for condition in &filter.must {
            and(self.condition(condition), &mut set);
        }
        if !filter.should.is_empty() {
            let children: Vec<Node> = filter.should.iter().map(|c| self.condition(c)).collect();
            and(self.at_least(children, 1), &mut set);
        }
        if let Some(min) = &filter.min_should {
            let children: Vec<Node> = min.conditions.iter().map(|c| self.condition(c)).collect();
            and(self.at_least(children, min.min_count), &mut set);
        }
        for condition in &filter.must_not {
            let child = self.condition(condition);
            if child.exact {
                set -= &child.set;
            } else {
                exact = false;
            }
        }
        if exact {
            Node::exact(set)
        } else {
            let estimate = estimate.min(set.len());
            Node {
                set,
                exact,
                estimate,
            }
        }
    }

    /// Ids in at least `k` of the children's sets.
    fn at_least(&self, children: Vec<Node>, k: usize) -> Node {
        if k == 0 {
            return Node::exact(self.all.clone());
        }
        if k > children.len() {
            // No id can be in more sets than there are children; this also
            // keeps `levels` as small as the filter that asked for it.
            return Node::exact(RoaringBitmap::new());
        }
        let exact = children.iter().all(|c| c.exact);
        let estimate_sum: u64 = children.iter().map(|c| c.estimate).sum();
        // levels[j] = ids in at least j+1 of the children seen so far.
        let mut levels: Vec<RoaringBitmap> = vec![RoaringBitmap::new(); k];
        for child in &children {
            for j in (1..k).rev() {
                let promoted = &levels[j - 1] & &child.set;
                levels[j] |= promoted;
            }
            levels[0] |= &child.set;
        }
        let set = levels.pop().unwrap_or_default();
        if exact {
            Node::exact(set)
        } else {
            let estimate = estimate_sum.min(set.len());
            Node {
                set,
                exact,
                estimate,
            }
        }
    }

    fn condition(&self, condition: &Condition) -> Node {
        match condition {
            Condition::Field(field) => match self.indexes.fields.get(&field.key) {
                Some(index) => self.field(index, field),
                None => self.everything(),
            },
            Condition::IsEmpty(c) => match self.indexes.fields.get(&c.is_empty.key) {
                Some(index) => Node::exact(self.all - &index.present),
                None => self.everything(),
            },
            Condition::HasId(c) => Node::exact(
                c.has_id
                    .iter()
                    .filter_map(|id| (self.resolve)(id))
                    .collect::<RoaringBitmap>()
                    & self.all,
            ),
            Condition::Filter(f) => self.filter(f),
            Condition::IsNull(_) | Condition::Nested(_) => self.everything(),
        }
    }

    fn field(&self, index: &FieldIndex, field: &FieldCondition) -> Node {
        if let Some(want_empty) = field.is_empty {
            return Node::exact(if want_empty {
                self.all - &index.present
            } else {
                &index.present & self.all
            });
        }
        let answer = if let Some(m) = &field.r#match {
            match_hits(&index.keys, m)
        } else if let Some(range) = field.range.as_ref().or(field.datetime_range.as_ref()) {
            range_hits(&index.keys, range)
        } else {
            None
        };
        let Some(Hits {
            set,
            exact,
            covered,
        }) = answer
        else {
            return self.everything();
        };
        if covered {
            return if exact {
                Node::exact(set & self.all)
            } else {
                Node::superset(set & self.all)
            };
        }
        let unindexed = &index.unindexed & self.all;
        if unindexed.is_empty() && exact {
            Node::exact(set & self.all)
        } else {
            Node::superset((set | unindexed) & self.all)
        }
    }
}

/// What an index knows about a per-value condition.
struct Hits {
    /// Ids with an indexed value satisfying the condition (a superset of
    /// them if not `exact`).
    set: RoaringBitmap,
    exact: bool,
    /// True if no value outside the index can satisfy the condition.
    covered: bool,
}

fn union<'a>(bitmaps: impl Iterator<Item = &'a RoaringBitmap>) -> RoaringBitmap {
    // Merges container by container instead of one bitmap at a time: a
    // range over many distinct values unions thousands of tiny bitmaps.
    bitmaps.union()
}

fn match_hits(keys: &Keys, m: &Match) -> Option<Hits> {
    match m {
        Match::Value { value } => values_hits(keys, std::slice::from_ref(value)),
        Match::Any { any } => values_hits(keys, any),
        Match::Except { except } => {
            let kept = |v: MatchValue| !except.contains(&v);
            let set = match keys {
                Keys::Keyword(map) => union(
                    map.iter()
                        .filter(|(k, _)| kept(MatchValue::Keyword((*k).clone())))
                        .map(|(_, b)| b),
                ),
                Keys::Integer(map) => union(
                    map.iter()
                        .filter(|(k, _)| kept(MatchValue::Integer(**k)))
                        .map(|(_, b)| b),
                ),
                Keys::Bool(map) => union(
                    map.iter()
                        .filter(|(k, _)| kept(MatchValue::Bool(**k)))
                        .map(|(_, b)| b),
                ),
                // Float keys lose the integer/float distinction except needs;
                // datetime keys lose the text.
                Keys::Float(_) | Keys::Datetime(_) => return None,
            };
            Some(Hits {
                set,
                exact: true,
                covered: false,
            })
        }
        Match::Text { text } => match keys {
            Keys::Keyword(map) => Some(Hits {
                set: union(
                    map.iter()
                        .filter(|(k, _)| k.contains(text.as_str()))
                        .map(|(_, b)| b),
                ),
                exact: true,
                covered: true,
            }),
            Keys::Datetime(_) => None,
            _ => Some(Hits {
                set: RoaringBitmap::new(),
                exact: true,
                covered: false,
            }),
        },
    }
}

fn values_hits(keys: &Keys, wanted: &[MatchValue]) -> Option<Hits> {
    let mut hits = Hits {
        set: RoaringBitmap::new(),
        exact: true,
        covered: true,
    };
    for value in wanted {
        let found = match (keys, value) {
            (Keys::Keyword(map), MatchValue::Keyword(s)) => map.get(s.as_str()),
            (Keys::Integer(map), MatchValue::Integer(i)) => map.get(i),
            (Keys::Bool(map), MatchValue::Bool(b)) => map.get(b),
            (Keys::Float(map), MatchValue::Integer(i)) => {
                // 1 and 1.0 share a float key; only 1 matches.
                hits.exact = false;
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "the same conversion as serde_json's as_f64, which built the key"
                )]
                map.get(&FloatKey::new(*i as f64))
            }
            // Payload strings equal to the wanted one may or may not parse.
            (Keys::Datetime(_), MatchValue::Keyword(_)) => return None,
            // Values of this type are never indexed here: `unindexed` has them.
            _ => {
                hits.covered = false;
                None
            }
        };
        if let Some(bits) = found {
            hits.set |= bits;
        }
    }
    Some(hits)
}

/// The lowest and highest value a range admits, as bounds for a map scan;
/// every key in between is still tested with the exact predicate.
fn span(range: &Range, value: impl Fn(&RangeBound) -> Option<f64>) -> Option<(f64, f64)> {
    let mut lo = f64::NEG_INFINITY;
    let mut hi = f64::INFINITY;
    for (name, bound) in range.bounds() {
        let x = value(bound)?;
        match name {
            "gt" | "gte" => lo = lo.max(x),
            _ => hi = hi.min(x),
        }
    }
    Some((lo, hi))
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "float to int `as` saturates; the scan window is widened and every key re-tested"
)]
fn int_window(lo: f64, hi: f64) -> (Bound<i64>, Bound<i64>) {
    // i64 -> f64 rounds by up to 512 near the ends of the range.
    const SLACK: i64 = 2048;
    (
        Bound::Included((lo.floor() as i64).saturating_sub(SLACK)),
        Bound::Included((hi.ceil() as i64).saturating_add(SLACK)),
    )
}

fn range_hits(keys: &Keys, range: &Range) -> Option<Hits> {
    let numeric = range
        .bounds()
        .all(|(_, b)| matches!(b, RangeBound::Number(_)));
    let temporal = range
        .bounds()
        .all(|(_, b)| matches!(b, RangeBound::Datetime(d) if d.micros().is_some()));
    if range.bounds().next().is_none() || numeric == temporal {
        return None;
    }
    let none = || Hits {
        set: RoaringBitmap::new(),
        exact: true,
        covered: false,
    };
    if numeric {
        let (lo, hi) = span(range, |b| match b {
            RangeBound::Number(x) => Some(*x),
            RangeBound::Datetime(_) => None,
        })?;
        if lo > hi {
            return Some(Hits {
                covered: true,
                ..none()
            });
        }
        match keys {
            Keys::Float(map) => Some(Hits {
                set: union(
                    map.range(FloatKey::new(lo)..=FloatKey::new(hi))
                        .filter(|(k, _)| number_in_range(k.get(), range))
                        .map(|(_, b)| b),
                ),
                exact: true,
                covered: true,
            }),
            Keys::Integer(map) => {
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "the same conversion as serde_json's as_f64 in the reference evaluation"
                )]
                let set = union(
                    map.range(int_window(lo, hi))
                        .filter(|(k, _)| number_in_range(**k as f64, range))
                        .map(|(_, b)| b),
                );
                Some(Hits {
                    set,
                    exact: true,
                    covered: false,
                })
            }
            _ => Some(none()),
        }
    } else {
        let micros = |b: &RangeBound| match b {
            RangeBound::Datetime(d) => d.micros(),
            RangeBound::Number(_) => None,
        };
        let mut lo = i64::MIN;
        let mut hi = i64::MAX;
        for (name, bound) in range.bounds() {
            let t = micros(bound)?;
            match name {
                "gt" | "gte" => lo = lo.max(t),
                _ => hi = hi.min(t),
            }
        }
        match keys {
            Keys::Datetime(map) => Some(Hits {
                set: if lo > hi {
                    RoaringBitmap::new()
                } else {
                    union(
                        map.range(lo..=hi)
                            .filter(|(k, _)| micros_in_range(**k, range))
                            .map(|(_, b)| b),
                    )
                },
                exact: true,
                covered: true,
            }),
            Keys::Keyword(map) => Some(Hits {
                set: union(
                    map.iter()
                        .filter(|(k, _)| {
                            super::parse::parse_datetime(k)
                                .is_some_and(|t| micros_in_range(t, range))
                        })
                        .map(|(_, b)| b),
                ),
                exact: true,
                covered: true,
            }),
            _ => Some(none()),
        }
    }
}
