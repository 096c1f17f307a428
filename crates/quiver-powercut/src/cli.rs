//! Arguments of the crate's command-line drivers.

use anyhow::{Result, anyhow};

/// The `--flag value` pairs of `args`, in order; the caller matches the
/// flags it knows.
///
/// # Errors
/// A flag with no value after it, naming the flag and `usage`.
pub fn flag_pairs(
    mut args: impl Iterator<Item = String>,
    usage: &str,
) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow!("{flag} needs a value; {usage}"))?;
        pairs.push((flag, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> impl Iterator<Item = String> {
        args.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn pairs_come_in_order() {
        let pairs = flag_pairs(strings(&["--seed", "7", "--quiver", "q"]), "u").unwrap();
        assert_eq!(
            pairs,
            [
                ("--seed".into(), "7".into()),
                ("--quiver".into(), "q".into())
            ]
        );
    }

    #[test]
    fn a_flag_without_a_value_is_an_error_naming_it() {
        let err = flag_pairs(strings(&["--seed", "7", "--writers"]), "usage: x").unwrap_err();
        assert_eq!(err.to_string(), "--writers needs a value; usage: x");
    }
}
