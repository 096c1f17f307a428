//! Named crash points for the crash tests.
//!
//! With the `fault-injection` feature, a test arms one point by name for the
//! current thread; when the storage code reaches it, [`crash_point`] returns
//! an error so the operation stops exactly there, and the test then forgets
//! the store (no `Drop`) to leave the files as a crash would. Without the
//! feature every call is a no-op that the compiler removes.

use std::io;

#[cfg(feature = "fault-injection")]
thread_local! {
    static ARMED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Arm the crash point `name` for the current thread (one at a time).
#[cfg(feature = "fault-injection")]
pub fn arm(name: &str) {
    ARMED.with(|armed| *armed.borrow_mut() = Some(name.to_owned()));
}

/// Disarm any armed crash point of the current thread.
#[cfg(feature = "fault-injection")]
pub fn disarm() {
    ARMED.with(|armed| *armed.borrow_mut() = None);
}

/// Fails with `Other` ("crash point ...") if `name` is armed on this thread,
/// disarming it; otherwise does nothing.
#[cfg(feature = "fault-injection")]
pub fn crash_point(name: &str) -> io::Result<()> {
    let hit = ARMED.with(|armed| {
        let mut armed = armed.borrow_mut();
        if armed.as_deref() == Some(name) {
            *armed = None;
            true
        } else {
            false
        }
    });
    if hit {
        return Err(io::Error::other(format!("crash point {name}")));
    }
    Ok(())
}

/// Does nothing: the `fault-injection` feature is off.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_name: &str) -> io::Result<()> {
    Ok(())
}
