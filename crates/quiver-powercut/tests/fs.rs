//! The power-cut filesystem itself: what a cut keeps and what it drops.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use quiver_powercut::{Mounted, PowerCutFs};

/// A mounted disk in a fresh temporary directory (dropped in this order:
/// the mount, then the directory), or `None` when FUSE is unavailable.
fn mount(test: &str) -> Option<(Mounted, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mounted =
        PowerCutFs::new(env!("CARGO_BIN_EXE_powercut-fs")).mount_or_skip(dir.path(), test)?;
    Some((mounted, dir))
}

fn sync_dir(dir: &Path) {
    File::open(dir)
        .expect("open dir")
        .sync_all()
        .expect("fsync dir");
}

fn read(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)
        .ok()?
        .read_to_end(&mut bytes)
        .expect("read");
    Some(bytes)
}

fn cut(m: &mut Mounted) {
    m.cut().expect("cut");
    m.remount().expect("remount");
}

/// A durable file `name` holding `bytes` (file and directory synced).
fn durable_file(m: &Mounted, name: &str, bytes: &[u8]) {
    let path = m.path().join(name);
    let mut f = File::create(&path).expect("create");
    f.write_all(bytes).expect("write");
    f.sync_all().expect("fsync");
    sync_dir(m.path());
}

#[test]
fn unsynced_write_is_gone_and_synced_write_stays() {
    let Some((mut m, _dir)) = mount("unsynced_write_is_gone_and_synced_write_stays") else {
        return;
    };
    durable_file(&m, "f", b"durable");
    let mut f = OpenOptions::new()
        .append(true)
        .open(m.path().join("f"))
        .expect("open");
    f.write_all(b" volatile").expect("write");
    assert_eq!(
        read(&m.path().join("f")).as_deref(),
        Some(&b"durable volatile"[..])
    );
    drop(f);
    cut(&mut m);
    assert_eq!(read(&m.path().join("f")).as_deref(), Some(&b"durable"[..]));

    let mut f = OpenOptions::new()
        .append(true)
        .open(m.path().join("f"))
        .expect("open");
    f.write_all(b" synced").expect("write");
    f.sync_data().expect("fdatasync");
    drop(f);
    cut(&mut m);
    assert_eq!(
        read(&m.path().join("f")).as_deref(),
        Some(&b"durable synced"[..])
    );
}

#[test]
fn created_and_synced_file_is_gone_without_a_dir_sync() {
    let Some((mut m, _dir)) = mount("created_and_synced_file_is_gone_without_a_dir_sync") else {
        return;
    };
    let path = m.path().join("new");
    let mut f = File::create(&path).expect("create");
    f.write_all(b"data").expect("write");
    f.sync_all().expect("fsync");
    drop(f);
    cut(&mut m);
    assert!(!path.exists(), "the name was never made durable");

    // The same with the directory synced: name and data both survive.
    let mut f = File::create(&path).expect("create");
    f.write_all(b"data").expect("write");
    f.sync_all().expect("fsync");
    drop(f);
    sync_dir(m.path());
    cut(&mut m);
    assert_eq!(read(&path).as_deref(), Some(&b"data"[..]));
}

#[test]
fn dir_sync_without_file_sync_keeps_the_name_but_not_the_data() {
    let Some((mut m, _dir)) = mount("dir_sync_without_file_sync_keeps_the_name_but_not_the_data")
    else {
        return;
    };
    let path = m.path().join("f");
    File::create(&path)
        .expect("create")
        .write_all(b"data")
        .expect("write");
    sync_dir(m.path());
    cut(&mut m);
    assert_eq!(read(&path).as_deref(), Some(&b""[..]));
}

#[test]
fn rename_without_dir_sync_is_undone() {
    let Some((mut m, _dir)) = mount("rename_without_dir_sync_is_undone") else {
        return;
    };
    durable_file(&m, "target", b"old");
    // The atomic-replace dance without its final directory fsync.
    let tmp = m.path().join("target.tmp");
    let mut f = File::create(&tmp).expect("create");
    f.write_all(b"new").expect("write");
    f.sync_all().expect("fsync");
    drop(f);
    fs::rename(&tmp, m.path().join("target")).expect("rename");
    assert_eq!(read(&m.path().join("target")).as_deref(), Some(&b"new"[..]));
    cut(&mut m);
    assert_eq!(read(&m.path().join("target")).as_deref(), Some(&b"old"[..]));
    assert!(!tmp.exists());

    // With the directory fsync the rename sticks.
    let mut f = File::create(&tmp).expect("create");
    f.write_all(b"new").expect("write");
    f.sync_all().expect("fsync");
    drop(f);
    fs::rename(&tmp, m.path().join("target")).expect("rename");
    sync_dir(m.path());
    cut(&mut m);
    assert_eq!(read(&m.path().join("target")).as_deref(), Some(&b"new"[..]));
    assert!(!tmp.exists());
}

#[test]
fn unlink_without_dir_sync_is_undone() {
    let Some((mut m, _dir)) = mount("unlink_without_dir_sync_is_undone") else {
        return;
    };
    durable_file(&m, "f", b"keep");
    fs::remove_file(m.path().join("f")).expect("unlink");
    cut(&mut m);
    assert_eq!(read(&m.path().join("f")).as_deref(), Some(&b"keep"[..]));
    fs::remove_file(m.path().join("f")).expect("unlink");
    sync_dir(m.path());
    cut(&mut m);
    assert!(!m.path().join("f").exists());
}

#[test]
fn truncate_is_undone_unless_synced_and_fsync_makes_the_size_durable() {
    let Some((mut m, _dir)) =
        mount("truncate_is_undone_unless_synced_and_fsync_makes_the_size_durable")
    else {
        return;
    };
    durable_file(&m, "f", &[7u8; 10_000]);
    let path = m.path().join("f");
    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.set_len(100).expect("truncate");
    drop(f);
    cut(&mut m);
    assert_eq!(fs::metadata(&path).expect("stat").len(), 10_000);

    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.set_len(100).expect("truncate");
    f.sync_all().expect("fsync");
    drop(f);
    cut(&mut m);
    assert_eq!(read(&path), Some(vec![7u8; 100]));

    // Growing by a write past the end: the new size is durable with fsync.
    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.write_all_at(b"end", 300_000).expect("write");
    f.sync_data().expect("fdatasync");
    drop(f);
    cut(&mut m);
    let bytes = read(&path).expect("file");
    assert_eq!(bytes.len(), 300_003);
    assert_eq!(&bytes[..100], &[7u8; 100][..]);
    assert!(bytes[100..300_000].iter().all(|&b| b == 0));
    assert_eq!(&bytes[300_000..], b"end");
}

#[test]
fn mmap_with_msync_is_durable_and_without_is_not() {
    let Some((mut m, _dir)) = mount("mmap_with_msync_is_durable_and_without_is_not") else {
        return;
    };
    let path = m.path().join("mapped");
    let len = 3 * 1024 * 1024;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("create");
    f.set_len(len as u64).expect("size");
    f.sync_all().expect("fsync");
    drop(f);
    sync_dir(m.path());

    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    // SAFETY: the test owns the file; nothing else maps or truncates it.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.expect("shared writable mmap");
    map[..4].copy_from_slice(b"sync");
    map[len - 4..].copy_from_slice(b"tail");
    let syncs = m.stats().expect("stats").file_syncs;
    map.flush().expect("msync(MS_SYNC)");
    assert!(
        m.stats().expect("stats").file_syncs > syncs,
        "msync reached the filesystem as an fsync"
    );
    map[4..8].copy_from_slice(b"lost");
    drop(map);
    drop(f);
    cut(&mut m);
    let bytes = read(&path).expect("file");
    assert_eq!(bytes.len(), len);
    assert_eq!(&bytes[..4], b"sync");
    assert_eq!(
        &bytes[4..8],
        &[0u8; 4],
        "an mmap write without msync is not durable"
    );
    assert_eq!(&bytes[len - 4..], b"tail");
}

#[test]
fn big_file_survives_intact() {
    let Some((mut m, _dir)) = mount("big_file_survives_intact") else {
        return;
    };
    let path = m.path().join("big");
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut f = File::create(&path).expect("create");
    for _ in 0..256 {
        f.write_all(&chunk).expect("write");
    }
    f.sync_all().expect("fsync");
    drop(f);
    sync_dir(m.path());
    cut(&mut m);
    let mut f = File::open(&path).expect("open");
    assert_eq!(f.metadata().expect("stat").len(), 256 << 20);
    let mut buf = vec![0u8; chunk.len()];
    for _ in 0..256 {
        f.read_exact(&mut buf).expect("read");
        assert!(buf == chunk);
    }
}

#[test]
fn the_dead_mount_is_refused_until_remount() {
    let Some((mut m, _dir)) = mount("the_dead_mount_is_refused_until_remount") else {
        return;
    };
    durable_file(&m, "f", b"x");
    let mut f = OpenOptions::new()
        .append(true)
        .open(m.path().join("f"))
        .expect("open");
    m.cut().expect("cut");
    assert!(f.write_all(b"late").is_err(), "writes after the cut fail");
    assert!(f.sync_all().is_err());
    drop(f);
    m.remount().expect("remount");
    assert_eq!(read(&m.path().join("f")).as_deref(), Some(&b"x"[..]));
    assert!(m.stats().expect("stats").refused > 0);
}
