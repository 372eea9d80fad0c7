//! The Docker engine, found or - on Debian, as root - installed and started.
//!
//! Where to look, in order: `DOCKER_HOST` (`unix://` or `tcp://`), `/var/run/docker.sock`, then
//! Docker Desktop's sockets under `~/.docker/`. On a fresh Debian machine [`install_and_start`]
//! installs Debian's `docker.io` and `docker-compose` (and Compose v2 beside it) and starts
//! `dockerd`. Everything that runs apt-get holds the [`provisioning`] lock, so the launcher's
//! prefetch and the grader never run two at once.

use anyhow::{bail, Context};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Where an engine may answer.
pub fn endpoints() -> Vec<String> {
    let mut endpoints = Vec::new();
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            endpoints.push(host);
            // An explicit DOCKER_HOST is the only place to look: probing others would surprise.
            return endpoints;
        }
    }
    endpoints.push("unix:///var/run/docker.sock".into());
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        for socket in [".docker/run/docker.sock", ".docker/desktop/docker.sock"] {
            endpoints.push(format!("unix://{}", home.join(socket).display()));
        }
    }
    endpoints
}

/// Whether the engine at `endpoint` answers its `/_ping` within a second or two.
pub fn answers(endpoint: &str) -> bool {
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let patience = Some(Duration::from_secs(2));
    let answer = |stream: &mut dyn ReadWrite| -> std::io::Result<String> {
        stream.write_all(request)?;
        let mut text = String::new();
        stream.take(4096).read_to_string(&mut text)?;
        Ok(text)
    };
    let text = if let Some(path) = endpoint.strip_prefix("unix://") {
        std::os::unix::net::UnixStream::connect(path).and_then(|mut s| {
            s.set_read_timeout(patience)?;
            s.set_write_timeout(patience)?;
            answer(&mut s)
        })
    } else if let Some(address) = endpoint.strip_prefix("tcp://").or_else(|| endpoint.strip_prefix("http://")) {
        std::net::TcpStream::connect(address.trim_end_matches('/')).and_then(|mut s| {
            s.set_read_timeout(patience)?;
            s.set_write_timeout(patience)?;
            answer(&mut s)
        })
    } else {
        return false;
    };
    text.is_ok_and(|t| t.starts_with("HTTP/1.") && t.split_whitespace().nth(1) == Some("200"))
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The first endpoint whose engine answers.
pub fn answering() -> Option<String> {
    endpoints().into_iter().find(|e| answers(e))
}

/// Waits up to `patience` for an engine to answer.
pub fn wait_answering(patience: Duration) -> Option<String> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        if let Some(endpoint) = answering() {
            return Some(endpoint);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Held while this machine's packages are installed or its engine started: a second process that
/// would do the same waits, then finds it done.
pub fn provisioning() -> anyhow::Result<crate::Lock> {
    let dir = if Path::new("/run").is_dir() && can_provision() { PathBuf::from("/run") } else { std::env::temp_dir() };
    crate::Lock::acquire(&dir.join("containerlabs-provision.lock"), || {
        eprintln!("waiting for another containerlabs process that is installing or starting something ...")
    })
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn can_provision() -> bool {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && have("apt-get") && std::env::var_os("DOCKER_HOST").is_none()
}

/// Installs the Debian `package` that provides `program` when `program` is missing (root on Debian
/// only; elsewhere an error saying what to install). A service the package starts is stopped and
/// disabled: the project starts what it needs itself, on ports it chooses.
pub fn install_tool(program: &str, package: &str, why: &str) -> anyhow::Result<()> {
    if have(program) {
        return Ok(());
    }
    if !can_provision() {
        bail!("{why} needs {program}: install it (Debian: apt-get install {package})");
    }
    let _lock = provisioning()?;
    if have(program) {
        return Ok(());
    }
    eprintln!("installing {package} from Debian's packages ({why}) ...");
    // Debian's policy-rc.d (exit 101) keeps the package's service from starting as it installs
    // (without systemd, its postinst would start it); the file is removed if this made it.
    let script = format!(
        "made=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made=1; fi; \
         {APT_GET} update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 {APT_GET} install -y -qq {package} >/dev/null; \
         status=$?; [ -n \"$made\" ] && rm -f /usr/sbin/policy-rc.d; exit $status"
    );
    apt_script(&format!("installing {package}"), &script)
        .with_context(|| format!("apt-get could not install {package}"))?;
    if std::path::Path::new("/run/systemd/system").exists() {
        let _ = Command::new("systemctl").args(["disable", "--now", package]).stderr(Stdio::null()).status();
    }
    Ok(())
}

/// Pauses between attempts at a download from the package mirror: a mirror that failed once (a
/// timeout, a file replaced mid-sync) usually answers a few seconds later.
const APT_PAUSES: [std::time::Duration; 2] = [std::time::Duration::from_secs(3), std::time::Duration::from_secs(10)];

/// Runs `attempt` until it succeeds, once more after each of `pauses`; the last error, saying how
/// many attempts were made, when none did.
fn with_retries<T>(
    what: &str,
    pauses: &[std::time::Duration],
    mut attempt: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut made = 0;
    loop {
        made += 1;
        match attempt() {
            Ok(done) => return Ok(done),
            Err(why) if made > pauses.len() => {
                return Err(why.context(format!("{what} failed {made} times")));
            }
            Err(why) => {
                let pause = pauses[made - 1];
                eprintln!("{what} failed ({why:#}); trying again in {} s ...", pause.as_secs());
                std::thread::sleep(pause);
            }
        }
    }
}

/// `sh -c script` (an apt-get run), retried as [`with_retries`] does, after [`APT_FIRST`].
fn apt_script(what: &str, script: &str) -> anyhow::Result<()> {
    let script = format!("{APT_FIRST}{script}");
    with_retries(what, &APT_PAUSES, || {
        let status = uninterrupted(&script).status().context("cannot run apt-get")?;
        if !status.success() {
            bail!("apt-get exited with {status}");
        }
        Ok(())
    })
}

/// What runs before an install: an install an earlier run left half done (dpkg stopped mid-way)
/// is finished first.
const APT_FIRST: &str = "dpkg --configure -a >/dev/null 2>&1; ";

/// apt-get as the installs run it: waiting up to two minutes for another apt or dpkg to let go
/// of its lock (an install a Ctrl-C left running, see [`uninterrupted`]) instead of failing at once.
const APT_GET: &str = "apt-get -o DPkg::Lock::Timeout=120";

/// `sh -c script` in a process group of its own: a Ctrl-C at the terminal stops the grader, not
/// the install it started - dpkg stopped mid-install leaves the machine's packages broken until
/// someone runs `dpkg --configure -a`. The install runs to its end; the next run finds it done.
pub fn uninterrupted(script: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("sh");
    command.args(["-c", script]).process_group(0);
    command
}

pub fn dockerd_log() -> PathBuf {
    PathBuf::from("/var/log/containerlabs-dockerd.log")
}

/// Installs docker.io and docker-compose when missing, then starts dockerd (systemd if it runs).
/// The caller holds the [`provisioning`] lock and has found no engine answering.
pub fn install_and_start() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if !have("dockerd") {
        missing.push("docker.io");
    }
    if !have("docker-compose") && !compose_v2_available() {
        missing.push("docker-compose");
    }
    if !missing.is_empty() {
        eprintln!("installing {} from Debian's packages (about half a minute) ...", missing.join(" and "));
        let script = format!(
            "{APT_GET} update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 {APT_GET} install -y -qq {} >/dev/null",
            missing.join(" ")
        );
        apt_script(&format!("installing {}", missing.join(" and ")), &script)
            .with_context(|| format!("apt-get could not install {}", missing.join(" and ")))?;
    }
    compose_v2_missing();
    if std::path::Path::new("/run/systemd/system").exists() {
        eprintln!("starting the docker service ...");
        if Command::new("systemctl").args(["start", "docker"]).status().is_ok_and(|s| s.success()) {
            return Ok(());
        }
    }
    start_dockerd()
}

/// Where the PID of the dockerd this project started is kept: only that one is ever restarted.
pub fn dockerd_pid_file() -> PathBuf {
    PathBuf::from("/run/containerlabs-dockerd.pid")
}

/// Starts dockerd in the background; its log is appended to (an earlier run's log is evidence).
pub fn start_dockerd() -> anyhow::Result<()> {
    use std::io::Write;
    eprintln!("starting dockerd (log: {}) ...", dockerd_log().display());
    let mut log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dockerd_log())
        .with_context(|| format!("cannot write {}", dockerd_log().display()))?;
    writeln!(log, "---- containerlabs: starting dockerd ----")?;
    use std::os::unix::process::CommandExt;
    let child = Command::new("dockerd")
        .args(["--host", "unix:///var/run/docker.sock"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start dockerd")?;
    let _ = std::fs::write(dockerd_pid_file(), child.id().to_string());
    Ok(())
}

/// Where Compose v2 goes as a Docker CLI plugin: `docker compose` finds it there, and the
/// sandbox's toolbox mounts it; Debian's v1 (`docker-compose`) stays beside it.
const COMPOSE_PLUGIN: &str = "/usr/local/lib/docker/cli-plugins/docker-compose";

/// Compose v2 - what students use - when this machine lacks it and may install it (root on
/// Debian): bookworm has only v1, so the plugin is taken from the next release's
/// `docker-compose` package (2.26, one Go binary that needs only libc), fetched with apt from the
/// machine's own Debian mirror into a private apt state (the machine's sources and packages are
/// untouched). A failure is said in one line, and v1 goes on serving.
pub fn compose_v2_if_missing() {
    if compose_v2_available() || !can_provision() {
        return;
    }
    let Ok(_lock) = provisioning() else { return };
    compose_v2_missing();
}

/// [`compose_v2_if_missing`] for a caller that holds the [`provisioning`] lock.
fn compose_v2_missing() {
    if compose_v2_available() {
        return;
    }
    eprintln!("installing Compose v2 (the docker compose plugin, from Debian trixie's docker-compose) ...");
    if let Err(why) = with_retries("installing Compose v2", &APT_PAUSES, install_compose_v2) {
        eprintln!("Compose v2 was not installed ({why:#}); Compose v1 (docker-compose) is used instead");
    }
}

fn install_compose_v2() -> anyhow::Result<()> {
    let mirror = debian_mirror().context("no Debian mirror in apt's sources")?;
    let state = PathBuf::from("/var/cache/containerlabs/apt-trixie");
    for dir in ["lists/partial", "cache/archives/partial", "sources", "deb"] {
        std::fs::create_dir_all(state.join(dir)).with_context(|| format!("cannot create {}", state.display()))?;
    }
    std::fs::write(
        state.join("sources/trixie.sources"),
        format!("Types: deb\nURIs: {mirror}\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"),
    )?;
    let options = [
        "-o=Dir::Etc::sourcelist=/dev/null".to_string(),
        format!("-o=Dir::Etc::sourceparts={}", state.join("sources").display()),
        format!("-o=Dir::State::lists={}", state.join("lists").display()),
        format!("-o=Dir::Cache={}", state.join("cache").display()),
        "-o=APT::Sandbox::User=root".to_string(),
        "-qq".to_string(),
    ];
    let run = |program: &str, args: &[&str], dir: &Path| -> anyhow::Result<()> {
        let output = Command::new(program)
            .args(args)
            .current_dir(dir)
            .output()
            .with_context(|| format!("cannot run {program}"))?;
        if !output.status.success() {
            bail!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    };
    let apt: Vec<&str> = options.iter().map(String::as_str).collect();
    run("apt-get", &[&apt[..], &["update"]].concat(), &state)?;
    let debs = state.join("deb");
    for old in std::fs::read_dir(&debs)?.flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    run("apt-get", &[&apt[..], &["download", "docker-compose/trixie"]].concat(), &debs)?;
    let deb = std::fs::read_dir(&debs)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get downloaded no package")?;
    let unpacked = state.join("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    run("dpkg-deb", &["-x", &deb.to_string_lossy(), &unpacked.to_string_lossy()], &state)?;
    let plugin = unpacked.join("usr/libexec/docker/cli-plugins/docker-compose");
    std::fs::create_dir_all(Path::new(COMPOSE_PLUGIN).parent().expect("a folder"))?;
    // Copied beside it, then renamed: a run stopped mid-copy leaves no half a plugin in place.
    let partial = format!("{COMPOSE_PLUGIN}.partial");
    std::fs::copy(&plugin, &partial).with_context(|| format!("the package has no {}", plugin.display()))?;
    std::fs::rename(&partial, COMPOSE_PLUGIN).with_context(|| format!("cannot put {COMPOSE_PLUGIN} in place"))?;
    let _ = std::fs::remove_dir_all(&unpacked);
    if !compose_v2_available() {
        bail!("docker compose version fails with the plugin in place");
    }
    Ok(())
}

/// The Debian archive this machine's apt uses (the first source of the main suite), read from
/// its deb822 `.sources` files or `sources.list`.
fn debian_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> =
            dir.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "sources")).collect();
        files.sort();
        texts.extend(files.iter().filter_map(|f| std::fs::read_to_string(f).ok()));
    }
    texts.extend(std::fs::read_to_string("/etc/apt/sources.list").ok());
    texts.iter().find_map(|text| mirror_in(text))
}

/// The archive of a sources text whose suites include a Debian release itself (not `-security`
/// or `-updates`): `URIs:` of a deb822 stanza, or a one-line `deb URI SUITE main`.
fn mirror_in(text: &str) -> Option<String> {
    let release = |suite: &str| matches!(suite, "bookworm" | "trixie" | "stable" | "testing");
    for stanza in text.split("\n\n") {
        let field = |name: &str| stanza.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
        if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) {
            if suites.split_whitespace().any(release) && field("Types:").is_none_or(|t| t.contains("deb")) {
                return uris.split_whitespace().next().map(str::to_string);
            }
        }
    }
    text.lines().find_map(|line| {
        // `deb [signed-by=...] URI SUITE ...`: the options in brackets are not words.
        let line = match (line.find('['), line.find(']')) {
            (Some(open), Some(close)) if open < close => format!("{}{}", &line[..open], &line[close + 1..]),
            _ => line.to_string(),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["deb", uri, suite, ..] if release(suite) => Some(uri.to_string()),
            _ => None,
        }
    })
}

/// Whether `docker compose` (v2) works.
pub fn compose_v2_available() -> bool {
    Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The compose command this machine has: v2 (`docker compose`) preferred, else v1 (`docker-compose`).
pub fn compose_command() -> Option<Vec<String>> {
    if compose_v2_available() {
        Some(vec!["docker".into(), "compose".into()])
    } else if have("docker-compose") {
        Some(vec!["docker-compose".into()])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{mirror_in, uninterrupted, with_retries};
    use std::time::Duration;

    /// Set in the child of the test below: the folder it works in, and whether its script runs
    /// `uninterrupted` or as a plain child.
    const CHILD: &str = "CLABS_PROVISION_CTRL_C_CHILD";

    /// A Ctrl-C at the terminal signals its whole foreground process group: the grader dies, the
    /// install it started goes on to its end. (And, to show the signal does reach the group, a
    /// script started as a plain child dies with the grader.)
    #[test]
    fn a_ctrl_c_stops_the_grader_but_not_the_install_it_started() {
        if let Some(child) = std::env::var_os(CHILD) {
            let (dir, how) = child.to_str().unwrap().split_once('|').unwrap();
            let script = format!("touch {dir}/started; sleep 1; touch {dir}/done");
            let mut command =
                if how == "uninterrupted" { uninterrupted(&script) } else { std::process::Command::new("sh") };
            if how != "uninterrupted" {
                command.args(["-c", &script]);
            }
            let _ = command.status();
            return;
        }
        for how in ["uninterrupted", "plain"] {
            let dir = tempfile::tempdir().unwrap();
            let grader = {
                use std::os::unix::process::CommandExt;
                std::process::Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "engine::tests::a_ctrl_c_stops_the_grader_but_not_the_install_it_started"])
                    .args(["--test-threads", "1", "--quiet"])
                    .env(CHILD, format!("{}|{how}", dir.path().display()))
                    .stdout(std::process::Stdio::null())
                    // A terminal's foreground job: a group of its own.
                    .process_group(0)
                    .spawn()
                    .unwrap()
            };
            let mut grader = grader;
            let waited = std::time::Instant::now();
            while !dir.path().join("started").exists() {
                assert!(waited.elapsed() < Duration::from_secs(20), "{how}: the script never started");
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(interrupt_group(grader.id()), "{how}: signalled");
            let status = grader.wait().unwrap();
            assert!(!status.success(), "{how}: Ctrl-C ends the grader");
            std::thread::sleep(Duration::from_millis(1_500));
            assert_eq!(dir.path().join("done").exists(), how == "uninterrupted", "{how}: did the script finish?");
        }
    }

    /// SIGINT to process group `group`, as a terminal sends it on Ctrl-C (procps' `kill`: the
    /// project's own signals go through `xtask::process` alone).
    fn interrupt_group(group: u32) -> bool {
        let group = format!("-{group}");
        std::process::Command::new("kill").args(["-s", "INT", "--", &group]).status().is_ok_and(|s| s.success())
    }

    #[test]
    fn a_download_that_fails_is_tried_again_and_the_last_error_says_how_often() {
        let pauses = [Duration::ZERO, Duration::ZERO];
        let mut calls = 0;
        let done = with_retries("fetching", &pauses, || {
            calls += 1;
            if calls < 3 {
                anyhow::bail!("mirror timed out")
            }
            Ok(calls)
        });
        assert_eq!(done.unwrap(), 3, "it succeeded on its last attempt");
        let mut calls = 0;
        let failed = with_retries("fetching", &pauses, || -> anyhow::Result<()> {
            calls += 1;
            anyhow::bail!("mirror timed out ({calls})")
        });
        assert_eq!(calls, 3);
        assert_eq!(format!("{:#}", failed.unwrap_err()), "fetching failed 3 times: mirror timed out (3)");
    }

    #[test]
    fn the_debian_mirror_is_read_from_apts_sources() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_in(deb822).as_deref(), Some("http://mirror.example/debian"));
        let security_only = "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_in(security_only), None);
        let one_line = "deb [signed-by=/k.gpg] http://m.example/debian bookworm main\n";
        assert_eq!(mirror_in(one_line).as_deref(), Some("http://m.example/debian"));
        assert_eq!(mirror_in("# deb http://m.example/debian bookworm main\n"), None);
    }
}
