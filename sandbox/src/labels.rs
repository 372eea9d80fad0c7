//! Who owns an engine object: the labels every object of a run carries, and the run's owner -
//! the grader process (this machine's boot, its PID and start time), or nobody (`up` leaves a
//! lab running on purpose) - so a later start can tell a run whose grader is gone.

use std::collections::BTreeMap;

/// The label keys, defined once (in `policy`, the crate every other one may use).
pub use policy::labels::{MANAGED, OWNER, ROLE, RUN};

/// A run's id: 12 hex digits, random.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(String);

impl RunId {
    /// A fresh id (from the kernel's random source).
    pub fn new() -> RunId {
        let mut bytes = [0u8; 6];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        if read.is_err() {
            // No /dev/urandom: the clock and PID are unique enough on one machine.
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let mixed = nanos.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
            bytes.copy_from_slice(&mixed.to_le_bytes()[..6]);
        }
        RunId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// An id read back from a label (12 lower-case hex digits), or `None`.
    pub fn parse(text: &str) -> Option<RunId> {
        let valid = text.len() == 12 && text.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
        valid.then(|| RunId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The label filter that selects this run's objects: `org.containerlabs.run=<id>`.
    pub fn selector(&self) -> String {
        format!("{RUN}={}", self.0)
    }
}

impl Default for RunId {
    fn default() -> RunId {
        RunId::new()
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who keeps a run alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A process on a machine: the run ends when it does.
    Process { boot: String, pid: u32, start: u64 },
    /// Nobody: `cargo xtask up` leaves a lab running until `down` or `clean`.
    Detached,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner::Process { boot: boot_id(), pid, start: start_time(pid).unwrap_or(0) }
    }

    /// The label's value: `<boot id>:<pid>:<start time>`, or `detached`.
    pub fn label(&self) -> String {
        match self {
            Owner::Process { boot, pid, start } => format!("{boot}:{pid}:{start}"),
            Owner::Detached => "detached".to_string(),
        }
    }

    pub fn parse(text: &str) -> Option<Owner> {
        if text == "detached" {
            return Some(Owner::Detached);
        }
        let mut parts = text.rsplitn(3, ':');
        let start = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let boot = parts.next()?.to_string();
        Some(Owner::Process { boot, pid, start })
    }

    /// Whether the owner still runs: `Some(false)` only for a process of this machine's current
    /// boot that is gone (or whose PID now belongs to another process); `None` when this machine
    /// cannot tell (another machine, or a detached run).
    pub fn alive(&self) -> Option<bool> {
        match self {
            Owner::Detached => None,
            Owner::Process { boot, .. } if *boot != boot_id() => None,
            Owner::Process { pid, start, .. } => Some(start_time(*pid) == Some(*start)),
        }
    }
}

/// The labels of an object of run `run` owned by `owner`.
pub fn labels(run: &RunId, owner: &Owner) -> BTreeMap<String, String> {
    [(MANAGED, "true".to_string()), (RUN, run.as_str().to_string()), (OWNER, owner.label())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// This machine's boot id (a new one at every boot).
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// When process `pid` started (clock ticks since boot), if it exists and is not a zombie.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    // Field 22 of stat is the start time; `fields` starts at field 3.
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_twelve_hex_digits_and_differ() {
        let (a, b) = (RunId::new(), RunId::new());
        assert_ne!(a, b);
        assert_eq!(RunId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(RunId::parse("not-an-id"), None);
        assert_eq!(a.selector(), format!("org.containerlabs.run={a}"));
    }

    #[test]
    fn owners_round_trip_and_tell_whether_they_live() {
        let me = Owner::current();
        assert_eq!(Owner::parse(&me.label()), Some(me.clone()));
        assert_eq!(me.alive(), Some(true));
        let Owner::Process { boot, start, .. } = me else { panic!("a process") };
        // A child that has exited and been reaped is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = Owner::Process { boot: boot.clone(), pid, start };
        assert_eq!(gone.alive(), Some(false));
        // Another machine's (or boot's) process: this machine cannot tell.
        assert_eq!(Owner::Process { boot: "another-boot".into(), pid, start }.alive(), None);
        assert_eq!(Owner::Detached.alive(), None);
        assert_eq!(Owner::parse("detached"), Some(Owner::Detached));
    }
}
