//! The systemd service protocol: readiness, reload and watchdog
//! notifications over `$NOTIFY_SOCKET`.
//!
//! Written out rather than pulled in as a crate: it is one datagram per
//! message, and doing it here keeps the dependency list (and the audit of
//! what runs inside a hardened unit) short. Outside systemd every call is a
//! no-op.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Send a notification such as `READY=1`; errors are logged, not fatal: a
/// missing notification is systemd's problem to time out on, not a reason
/// to stop probing.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = (|| -> std::io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            socket.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, state, "systemd notification failed");
    }
}

/// `READY=1` with a status line.
pub fn ready(status: &str) {
    notify(&format!("READY=1\nSTATUS={status}"));
}

/// `RELOADING=1` with the monotonic timestamp systemd 253+ asks for.
pub fn reloading() {
    let usec = monotonic_now().as_micros();
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// `STOPPING=1`.
pub fn stopping() {
    notify("STOPPING=1");
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, if systemd
/// asked for a watchdog for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Some(pid) = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    {
        if pid != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// CLOCK_MONOTONIC now. std's `Instant` uses that clock on Linux but keeps
/// its epoch private, so read /proc/uptime's first field (CLOCK_BOOTTIME,
/// which equals CLOCK_MONOTONIC unless the machine was suspended; systemd
/// only uses the value to order reload messages).
fn monotonic_now() -> Duration {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|f| f.parse::<f64>().ok())
        })
        .map(Duration::from_secs_f64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        // The variable is process-wide; this is the only test that sets it.
        std::env::set_var("NOTIFY_SOCKET", &path);
        ready("probing 2 targets");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=probing 2 targets");
        reloading();
        let n = server.recv(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"RELOADING=1\nMONOTONIC_USEC="));
        std::env::remove_var("NOTIFY_SOCKET");
    }
}
