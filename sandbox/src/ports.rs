//! Host ports for what a run publishes or listens on, held machine-wide until the process ends.
//!
//! `grade --jobs` gives each job ports of its own, and two graders (or a grader and the test
//! suite) may run on one machine at once. A port picked by `bind(0)` and released comes from the
//! kernel's ephemeral range, which is also where every outgoing connection takes its source port:
//! one of them can take the port before Docker publishes it ("address already in use"). So ports
//! are taken from below that range, where only listeners compete, and each taken port is held by
//! a POSIX write lock on its byte of one file (`/run/lock/containerlabs-ports.lock`): another Container Labs process
//! skips it, and the kernel drops the lock when the holder ends, however it ends - nothing to
//! clean up, nothing stale.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port handed out.
const FLOOR: u32 = 10_000;

/// The name of the file whose byte `n` a process locks while port `n` is its own.
const LOCKS: &str = "containerlabs-ports.lock";

/// The locks' file: in `/run/lock` (emptied at boot), or where it cannot be written, in the
/// temporary directory.
fn open_locks() -> Option<std::fs::File> {
    let open = |dir: &std::path::Path| {
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join(LOCKS)).ok()
    };
    open(std::path::Path::new("/run/lock")).or_else(|| open(&std::env::temp_dir()))
}

/// A port nothing is bound to now, on any address, that no other Container Labs process holds;
/// this process holds it until it ends. Each call in a process gets a new port, from a start that
/// differs per process. When the ephemeral range leaves no room below it, a port from `bind(0)`
/// (unheld).
pub fn reserve() -> io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if ephemeral_low > FLOOR + 1_000 {
        let span = ephemeral_low - FLOOR;
        let start = std::process::id().wrapping_mul(7_919) % span;
        for _ in 0..span {
            let port = FLOOR + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
            let port = u16::try_from(port).expect("below the ephemeral range");
            if hold(port) && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Takes `port` for this process: a write lock on byte `port` of the locks' file. False when
/// another process holds it. Without the file (nowhere to write it), every port is granted and
/// only the bind decides.
#[allow(unsafe_code)]
fn hold(port: u16) -> bool {
    use std::os::fd::AsRawFd;
    static HELD: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    // One descriptor for the process's life: closing any descriptor of the file would drop
    // every lock the process holds on it.
    let file = HELD.get_or_init(open_locks);
    let Some(file) = file else { return true };
    // SAFETY: a zeroed flock is a valid value of the plain C struct; the fields that matter are set.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = libc::off_t::from(port);
    lock.l_len = 1;
    // SAFETY: F_SETLK reads the flock passed by pointer, which lives across the call.
    unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) == 0 }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, Write};

    /// Set in the child of the test below: it takes a port, says which, and keeps it until its
    /// stdin closes.
    const HOLDER: &str = "CLABS_PORTS_HOLDER";
    const NAME: &str = "ports::tests::a_port_another_process_holds_is_not_handed_out_until_it_ends";

    #[test]
    fn a_port_another_process_holds_is_not_handed_out_until_it_ends() {
        if std::env::var_os(HOLDER).is_some() {
            let port = super::reserve().unwrap();
            // Straight to the descriptor (the harness captures `println!`), after its own
            // "test ... " on the same line.
            let mut out = std::io::stdout();
            writeln!(out, "holding {port}").unwrap();
            out.flush().unwrap();
            let _ = std::io::stdin().lines().next();
            return;
        }
        let mut holder = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
            .env(HOLDER, "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
        let port: u16 = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.rsplit_once("holding ")?.1.trim().parse().ok())
            .expect("the holder names its port");
        // Nothing listens on it: only the other process's hold keeps it from this one.
        assert!(std::net::TcpListener::bind(("0.0.0.0", port)).is_ok());
        assert!(!super::hold(port), "port {port} is held by the other process");
        drop(holder.stdin.take());
        assert!(holder.wait().unwrap().success());
        assert!(super::hold(port), "port {port} is free again once its holder ended");
    }

    #[test]
    fn each_call_hands_out_a_port_of_its_own_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| super::reserve().unwrap()).collect();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        if u32::from(low) > super::FLOOR + 1_000 {
            assert!(ports.iter().all(|&p| u32::from(p) >= super::FLOOR && p < low), "{ports:?}");
        }
    }
}
