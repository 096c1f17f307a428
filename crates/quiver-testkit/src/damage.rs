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

/// Copies the directory tree `src` to `dst` (created), leaving out every
/// `LOCK` file: what a crash of the process holding a database leaves on
/// disk, as another process would find it.
///
/// Panics (failing the test) on any I/O error.
pub fn crash_image(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap_or_else(|e| panic!("mkdir {}: {e}", dst.display()));
    let entries =
        std::fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display()));
        let to = dst.join(entry.file_name());
        let is_dir = entry
            .file_type()
            .unwrap_or_else(|e| panic!("stat {}: {e}", entry.path().display()))
            .is_dir();
        if is_dir {
            crash_image(&entry.path(), &to);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &to)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crash_image_copies_the_tree_without_locks() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("db");
        std::fs::create_dir_all(src.join("collections/c")).unwrap();
        std::fs::write(src.join("LOCK"), b"").unwrap();
        std::fs::write(src.join("quiver.json"), b"{}").unwrap();
        std::fs::write(src.join("collections/c/ops.log"), b"ops").unwrap();
        let dst = dir.path().join("image");
        super::crash_image(&src, &dst);
        assert!(!dst.join("LOCK").exists());
        assert_eq!(std::fs::read(dst.join("quiver.json")).unwrap(), b"{}");
        assert_eq!(
            std::fs::read(dst.join("collections/c/ops.log")).unwrap(),
            b"ops"
        );
    }

    #[test]
    fn flips_only_the_first_occurrence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"xx abc abc").unwrap();
        super::flip_first(&path, b"abc");
        assert_eq!(std::fs::read(&path).unwrap(), b"xx Abc abc");
    }
}
