//! Named crash points for the crash tests.
//!
//! With the `fault-injection` feature, a test arms one point by name for the
//! current thread; when the storage code reaches it, [`crash_point`] returns
//! an error so the operation stops exactly there, and the test then forgets
//! the store (no `Drop`) to leave the files as a crash would. Without the
//! feature every call is a no-op that the compiler removes.
//!
//! A power-cut test arms a point for the whole process instead
//! ([`arm_process`]) with an action that runs at the point, e.g. telling
//! the test to cut the power and then waiting to be killed, so nothing
//! after the point reaches the disk.

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

/// What [`arm_process`] armed: a point and the action to run there.
#[cfg(feature = "fault-injection")]
type ProcessArm = (String, Box<dyn FnOnce() + Send>);

#[cfg(feature = "fault-injection")]
static ARMED_IN_PROCESS: parking_lot::Mutex<Option<ProcessArm>> = parking_lot::Mutex::new(None);

/// Arm the crash point `name` for every thread of the process: the first
/// thread to reach it runs `action` there, then the point fails as an
/// armed one does. Replaces an earlier [`arm_process`]. Returns `true`
/// (crash points are compiled in).
#[cfg(feature = "fault-injection")]
pub fn arm_process(name: &str, action: impl FnOnce() + Send + 'static) -> bool {
    *ARMED_IN_PROCESS.lock() = Some((name.to_owned(), Box::new(action)));
    true
}

/// Arms nothing and returns `false`: the `fault-injection` feature is off,
/// so no crash point exists to arm.
#[cfg(not(feature = "fault-injection"))]
pub fn arm_process(_name: &str, _action: impl FnOnce() + Send + 'static) -> bool {
    false
}

/// Fails with `Other` ("crash point ...") if `name` is armed on this thread,
/// disarming it; runs the action of a point [`arm_process`] armed, then
/// fails the same way; otherwise does nothing.
#[cfg(feature = "fault-injection")]
pub fn crash_point(name: &str) -> io::Result<()> {
    let mut hit = ARMED.with(|armed| {
        let mut armed = armed.borrow_mut();
        if armed.as_deref() == Some(name) {
            *armed = None;
            true
        } else {
            false
        }
    });
    let action = {
        let mut armed = ARMED_IN_PROCESS.lock();
        match armed.take() {
            Some((point, action)) if point == name => Some(action),
            other => {
                *armed = other;
                None
            }
        }
    };
    if let Some(action) = action {
        action();
        hit = true;
    }
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
