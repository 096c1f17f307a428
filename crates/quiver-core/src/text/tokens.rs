//! Words of a text, as BM25 counts them.

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

/// A language with a Snowball stemmer and a stop-word list (NLTK's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Language {
    Arabic,
    Danish,
    Dutch,
    English,
    Finnish,
    French,
    German,
    Greek,
    Hungarian,
    Italian,
    Norwegian,
    Portuguese,
    Romanian,
    Russian,
    Spanish,
    Swedish,
    Tamil,
    Turkish,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Language; 18] = [
        Language::Arabic,
        Language::Danish,
        Language::Dutch,
        Language::English,
        Language::Finnish,
        Language::French,
        Language::German,
        Language::Greek,
        Language::Hungarian,
        Language::Italian,
        Language::Norwegian,
        Language::Portuguese,
        Language::Romanian,
        Language::Russian,
        Language::Spanish,
        Language::Swedish,
        Language::Tamil,
        Language::Turkish,
    ];

    fn stemmer(self) -> Algorithm {
        match self {
            Language::Arabic => Algorithm::Arabic,
            Language::Danish => Algorithm::Danish,
            Language::Dutch => Algorithm::Dutch,
            Language::English => Algorithm::English,
            Language::Finnish => Algorithm::Finnish,
            Language::French => Algorithm::French,
            Language::German => Algorithm::German,
            Language::Greek => Algorithm::Greek,
            Language::Hungarian => Algorithm::Hungarian,
            Language::Italian => Algorithm::Italian,
            Language::Norwegian => Algorithm::Norwegian,
            Language::Portuguese => Algorithm::Portuguese,
            Language::Romanian => Algorithm::Romanian,
            Language::Russian => Algorithm::Russian,
            Language::Spanish => Algorithm::Spanish,
            Language::Swedish => Algorithm::Swedish,
            Language::Tamil => Algorithm::Tamil,
            Language::Turkish => Algorithm::Turkish,
        }
    }

    /// The ISO 639-1 code the stop-word lists are filed under.
    fn code(self) -> &'static str {
        match self {
            Language::Arabic => "ar",
            Language::Danish => "da",
            Language::Dutch => "nl",
            Language::English => "en",
            Language::Finnish => "fi",
            Language::French => "fr",
            Language::German => "de",
            Language::Greek => "el",
            Language::Hungarian => "hu",
            Language::Italian => "it",
            Language::Norwegian => "no",
            Language::Portuguese => "pt",
            Language::Romanian => "ro",
            Language::Russian => "ru",
            Language::Spanish => "es",
            Language::Swedish => "sv",
            Language::Tamil => "ta",
            Language::Turkish => "tr",
        }
    }

    fn stop_words(self) -> &'static [&'static str] {
        stop_words::lookup(self.code()).unwrap_or(&[])
    }
}

/// Turns a text into the words BM25 counts: split at every character that
/// is not a letter or a digit, lower-case each piece, drop stop words,
/// stem, and drop stems outside the length bounds (in characters).
pub(crate) struct Tokenizer {
    lowercase: bool,
    stop_words: FxHashSet<&'static str>,
    stemmer: Option<Stemmer>,
    min_len: usize,
    max_len: usize,
}

impl Tokenizer {
    pub(crate) fn new(
        language: Language,
        lowercase: bool,
        stop_words: bool,
        stem: bool,
        min_len: usize,
        max_len: usize,
    ) -> Tokenizer {
        Tokenizer {
            lowercase,
            stop_words: if stop_words {
                language.stop_words().iter().copied().collect()
            } else {
                FxHashSet::default()
            },
            stemmer: stem.then(|| Stemmer::create(language.stemmer())),
            min_len,
            max_len,
        }
    }

    /// Calls `each` with every word of `text` that is counted, in order.
    pub(crate) fn for_each_token(&self, text: &str, mut each: impl FnMut(&str)) {
        for piece in text.split(|c: char| !c.is_alphanumeric()) {
            if piece.is_empty() {
                continue;
            }
            let lowered;
            let word = if self.lowercase && piece.chars().any(char::is_uppercase) {
                lowered = piece.to_lowercase();
                lowered.as_str()
            } else {
                piece
            };
            if self.stop_words.contains(word) {
                continue;
            }
            let stemmed;
            let word = match &self.stemmer {
                Some(stemmer) => {
                    stemmed = stemmer.stem(word);
                    &*stemmed
                }
                None => word,
            };
            let chars = word.chars().count();
            if (self.min_len..=self.max_len).contains(&chars) {
                each(word);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(t: &Tokenizer, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        t.for_each_token(text, |w| out.push(w.to_owned()));
        out
    }

    #[test]
    fn every_language_has_stop_words() {
        for language in Language::ALL {
            assert!(language.stop_words().len() > 10, "{language:?}");
        }
    }

    #[test]
    fn english_words_are_split_lowered_filtered_and_stemmed() {
        let t = Tokenizer::new(Language::English, true, true, true, 0, usize::MAX);
        assert_eq!(
            tokens(
                &t,
                "The Runner's dogs were RUNNING, hello-world_x 3.14 İstanbul"
            ),
            [
                "runner",
                "dog",
                "run",
                "hello",
                "world",
                "x",
                "3",
                "14",
                "i̇stanbul"
            ]
        );
    }

    #[test]
    fn each_step_can_be_turned_off() {
        let t = Tokenizer::new(Language::English, false, false, false, 2, 4);
        assert_eq!(tokens(&t, "The a dogs RUNNING ox"), ["The", "dogs", "ox"]);
        // The bounds apply to the stem: "siblings" is kept as "sibl".
        let t = Tokenizer::new(Language::English, true, true, true, 3, 4);
        assert_eq!(tokens(&t, "siblings brothers ox"), ["sibl"]);
    }
}
