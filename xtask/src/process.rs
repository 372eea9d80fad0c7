//! The processes this project starts, and only those: each in a process group of its own, found
//! again by PID, and stopped one way everywhere - SIGTERM, a grace period to finish, then SIGKILL
//! for what still runs. Services, graders of a batch, the dockerd the project started, what
//! `up` left running and a bench's servers all stop through [`stop`] or [`stop_blocking`].

use std::time::Duration;

/// Whether started processes should die with the grader (`check --up`) or outlive it (`up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    TiedToGrader,
    Detached,
}

/// How often a stop looks whether the processes have ended.
const LOOK: Duration = Duration::from_millis(20);

/// A process group of its own (a terminal's Ctrl-C reaches only the grader, which stops what it
/// started in order); with [`Lifetime::TiedToGrader`], SIGTERM too when the grader dies without
/// cleaning up.
#[allow(unsafe_code)]
pub fn configure(command: &mut std::process::Command, lifetime: Lifetime) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    if lifetime == Lifetime::TiedToGrader {
        // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
        // async-signal-safe; it touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// Sends `sig` to a process this project started.
#[allow(unsafe_code)]
pub fn signal(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions; pid is one we spawned.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Sends `sig` to the process group led by a process this project started.
#[allow(unsafe_code)]
pub fn signal_group(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: as in `signal`; a negative pid names the group our child leads.
    unsafe { libc::kill(-(pid as libc::pid_t), sig) == 0 }
}

/// Whether `pid` is a process that still runs: it exists and is not a zombie (a child that
/// ended but was not waited for yet).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next()))
        .is_some_and(|state| state != Some('Z'))
}

/// Stops `pids`: SIGTERM to each, up to `grace` for them to end, then SIGKILL to each that
/// `running` still says runs. Returns those that had to be killed. A caller that holds a
/// process's `Child` waits for it afterwards, so no zombie is left.
pub async fn stop(pids: &[u32], grace: Duration, mut running: impl FnMut(u32) -> bool) -> Vec<u32> {
    for pid in pids {
        signal(*pid, libc::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline && pids.iter().any(|p| running(*p)) {
        tokio::time::sleep(LOOK).await;
    }
    kill_the_rest(pids, running)
}

/// [`stop`] for a caller with no runtime (a `Drop`).
pub fn stop_blocking(pids: &[u32], grace: Duration, mut running: impl FnMut(u32) -> bool) -> Vec<u32> {
    for pid in pids {
        signal(*pid, libc::SIGTERM);
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline && pids.iter().any(|p| running(*p)) {
        std::thread::sleep(LOOK);
    }
    kill_the_rest(pids, running)
}

fn kill_the_rest(pids: &[u32], mut running: impl FnMut(u32) -> bool) -> Vec<u32> {
    let killed: Vec<u32> = pids.iter().copied().filter(|p| running(*p)).collect();
    for pid in &killed {
        signal(*pid, libc::SIGKILL);
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_process_that_ends_on_sigterm_is_not_killed_and_one_that_ignores_it_is() {
        let mut polite = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = polite.id();
        let killed = stop(&[pid], Duration::from_secs(5), |_| polite.try_wait().ok().flatten().is_none()).await;
        assert!(killed.is_empty());
        assert!(!alive(pid));
        let mut stubborn = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; echo ready; exec sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = [0u8; 6];
        std::io::Read::read_exact(stubborn.stdout.as_mut().unwrap(), &mut ready).unwrap();
        let pid = stubborn.id();
        let killed =
            stop_blocking(&[pid], Duration::from_millis(300), |_| stubborn.try_wait().ok().flatten().is_none());
        assert_eq!(killed, [pid]);
        let _ = stubborn.wait();
        assert!(!alive(pid));
    }
}
