//! BM25 term weights as sparse vectors.
//!
//! A document's vector holds, for each distinct word `t` (see
//! `tokens.rs`), the saturated term frequency
//! `tf * (k + 1) / (tf + k * (1 - b + b * len / avg_len))`, where `len` is
//! the number of words the document counts. A query's vector holds 1.0 for
//! each distinct word. The dot product of the two is then the BM25 score
//! without IDF; the inverse document frequency belongs to the collection
//! (it depends on every document), so the index applies it at query time.
//!
//! A word's dimension is the absolute value of its 32-bit MurmurHash3
//! (seed 0) read as a signed integer, as Qdrant and fastembed compute it.

use std::io::Cursor;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::tokens::{Language, Tokenizer};
use crate::error::{Error, Result};
use crate::point::SparseVector;

/// The settings of a [`Bm25`] model. The defaults are those of
/// `qdrant/bm25`: English, k 1.2, b 0.75, an average document length of
/// 256 words, lower-casing, English stop words and the Snowball English
/// stemmer, no length bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bm25Config {
    /// Term-frequency saturation (`k1`), at least 0.
    pub k: f64,
    /// Length normalisation, from 0 (none) to 1 (full).
    pub b: f64,
    /// The average document length, in words, that `b` normalises
    /// against; more than 0.
    pub avg_len: f64,
    /// The language of the stop words and the stemmer.
    pub language: Language,
    /// Lower-case each word before anything else.
    pub lowercase: bool,
    /// Drop the language's stop words.
    pub stopwords: bool,
    /// Reduce each word to its stem.
    pub stemmer: bool,
    /// Drop words shorter than this many characters.
    pub min_token_len: Option<usize>,
    /// Drop words longer than this many characters.
    pub max_token_len: Option<usize>,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Bm25Config {
            k: 1.2,
            b: 0.75,
            avg_len: 256.0,
            language: Language::English,
            lowercase: true,
            stopwords: true,
            stemmer: true,
            min_token_len: None,
            max_token_len: None,
        }
    }
}

/// A BM25 model: turns texts into sparse vectors, documents and queries
/// apart. Built once from a checked [`Bm25Config`]; cheap to share.
pub struct Bm25 {
    k: f64,
    b: f64,
    avg_len: f64,
    tokenizer: Tokenizer,
}

impl Bm25 {
    /// The model for `config`, or [`Error::InvalidInput`] naming the
    /// setting that is out of range.
    pub fn new(config: &Bm25Config) -> Result<Bm25> {
        if !(config.k.is_finite() && config.k >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "bm25 `k` must be a finite number of at least 0, not {}",
                config.k
            )));
        }
        if !(0.0..=1.0).contains(&config.b) {
            return Err(Error::InvalidInput(format!(
                "bm25 `b` must be between 0 and 1, not {}",
                config.b
            )));
        }
        if !(config.avg_len.is_finite() && config.avg_len > 0.0) {
            return Err(Error::InvalidInput(format!(
                "bm25 `avg_len` must be a finite number above 0, not {}",
                config.avg_len
            )));
        }
        let min_len = config.min_token_len.unwrap_or(0);
        let max_len = config.max_token_len.unwrap_or(usize::MAX);
        if min_len > max_len {
            return Err(Error::InvalidInput(format!(
                "bm25 `min_token_len` ({min_len}) is above `max_token_len` ({max_len})"
            )));
        }
        Ok(Bm25 {
            k: config.k,
            b: config.b,
            avg_len: config.avg_len,
            tokenizer: Tokenizer::new(
                config.language,
                config.lowercase,
                config.stopwords,
                config.stemmer,
                min_len,
                max_len,
            ),
        })
    }

    /// The vector of `text` as a stored document: each distinct word's
    /// saturated, length-normalised term frequency.
    pub fn embed_document(&self, text: &str) -> SparseVector {
        let mut tf: FxHashMap<u32, u32> = FxHashMap::default();
        let mut len = 0u64;
        self.tokenizer.for_each_token(text, |word| {
            *tf.entry(token_id(word)).or_insert(0) += 1;
            len += 1;
        });
        let norm = self.k * (1.0 - self.b + self.b * len as f64 / self.avg_len);
        let (indices, values) = tf
            .into_iter()
            .map(|(id, n)| {
                let n = f64::from(n);
                (id, (n * (self.k + 1.0) / (n + norm)) as f32)
            })
            .unzip();
        sorted(indices, values)
    }

    /// How many words of `text` BM25 counts (repeats included): the
    /// document length its weights normalise by.
    pub fn count_words(&self, text: &str) -> usize {
        let mut n = 0;
        self.tokenizer.for_each_token(text, |_| n += 1);
        n
    }

    /// The vector of `text` as a query: 1.0 for each distinct word.
    pub fn embed_query(&self, text: &str) -> SparseVector {
        let mut ids = Vec::new();
        self.tokenizer
            .for_each_token(text, |word| ids.push(token_id(word)));
        ids.sort_unstable();
        ids.dedup();
        let values = vec![1.0; ids.len()];
        sorted(ids, values)
    }
}

/// A word's dimension: |murmur3_32(word, seed 0) as i32|.
fn token_id(word: &str) -> u32 {
    let hash = murmur3::murmur3_32(&mut Cursor::new(word.as_bytes()), 0)
        .unwrap_or_else(|_| unreachable!("reading a byte slice cannot fail"));
    (hash as i32).unsigned_abs()
}

/// Distinct ids with finite values always make a vector; more words than
/// a vector may hold are cut at the largest ids, which keeps the call
/// infallible for any text.
fn sorted(indices: Vec<u32>, values: Vec<f32>) -> SparseVector {
    let mut pairs: Vec<(u32, f32)> = indices.into_iter().zip(values).collect();
    pairs.sort_unstable_by_key(|p| p.0);
    pairs.truncate(crate::point::MAX_SPARSE_ENTRIES);
    let (indices, values) = pairs.into_iter().unzip();
    SparseVector::new(indices, values).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_the_absolute_signed_murmur3() {
        // Values Qdrant's own engine gives for these words.
        assert_eq!(token_id("quick"), 771_291_085);
        assert_eq!(token_id("run"), 243_905_464);
        assert_eq!(token_id("fox"), 1_621_867_415);
    }

    #[test]
    fn document_weights_saturate_and_normalise_by_length() {
        let bm25 = Bm25::new(&Bm25Config::default()).unwrap();
        let v = bm25.embed_document("dog dog cat");
        let norm = 1.2 * (0.25 + 0.75 * 3.0 / 256.0);
        let dog = (2.0 * 2.2 / (2.0 + norm)) as f32;
        let cat = (2.2 / (1.0 + norm)) as f32;
        let at = |id: u32| v.values()[v.indices().iter().position(|&i| i == id).unwrap()];
        assert_eq!(at(token_id("dog")), dog);
        assert_eq!(at(token_id("cat")), cat);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn queries_weigh_each_distinct_word_once() {
        let bm25 = Bm25::new(&Bm25Config::default()).unwrap();
        let q = bm25.embed_query("Dogs and dogs, running");
        assert_eq!(q.values(), &[1.0, 1.0]);
        let mut want = vec![token_id("dog"), token_id("run")];
        want.sort_unstable();
        assert_eq!(q.indices(), want.as_slice());
        assert!(bm25.embed_query("the and of").is_empty());
        assert!(bm25.embed_document("").is_empty());
        assert_eq!(bm25.count_words("Dogs and dogs, running"), 3);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |c: Bm25Config| Bm25::new(&c).err().unwrap().to_string();
        let d = Bm25Config::default;
        assert!(bad(Bm25Config { k: -1.0, ..d() }).contains("`k`"));
        assert!(bad(Bm25Config { b: 1.5, ..d() }).contains("`b`"));
        assert!(
            bad(Bm25Config {
                avg_len: 0.0,
                ..d()
            })
            .contains("`avg_len`")
        );
        let lens = Bm25Config {
            min_token_len: Some(5),
            max_token_len: Some(2),
            ..d()
        };
        assert!(bad(lens).contains("min_token_len"));
        let unknown = serde_json::from_str::<Bm25Config>(r#"{"ascii_folding": true}"#);
        assert!(unknown.unwrap_err().to_string().contains("ascii_folding"));
        let language = serde_json::from_str::<Bm25Config>(r#"{"language": "klingon"}"#);
        assert!(language.is_err());
    }
}
