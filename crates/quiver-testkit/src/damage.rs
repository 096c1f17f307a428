use std::path::Path;

/// Flips one bit (0x20) of the first byte of the first occurrence of
/// `needle` in the file at `path`, as a bad sector or a stray write would.
///
/// Panics (failing the test) if the file cannot be read or written or does
/// not contain `needle`.
pub fn flip_first(path: &Path, needle: &[u8]) {
    let mut bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{} does not contain {needle:?}", path.display()));
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    #[test]
    fn flips_only_the_first_occurrence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"xx abc abc").unwrap();
        super::flip_first(&path, b"abc");
        assert_eq!(std::fs::read(&path).unwrap(), b"xx Abc abc");
    }
}
