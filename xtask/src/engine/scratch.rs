//! A second Docker engine on this machine, started by the project and gone when dropped: its own
//! socket, data root, exec root and bridge, and iptables left to the project, not to dockerd (a
//! second dockerd managing the same chains would reset the machine's engine's rules). Its
//! containers get what the machine's engine gives its own: three rules of the project's, each
//! tagged with a comment and deleted when the engine is - accept forwarding from its address range
//! and the answers back (the machine's engine sets the FORWARD policy to DROP, which bridged
//! traffic between two containers meets too), and masquerade what leaves the range (apt's mirror
//! for the stand-ins' builds, name lookups the containers make). Published ports go through
//! docker's userland proxy. `bench cold-start` measures a first run on an empty one; the class
//! test grades on one beside the machine's.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A dockerd of the project's own; stopped by its PID when dropped, its bridge, rules and folders
/// removed.
#[derive(Debug)]
pub struct ScratchEngine {
    dir: Option<tempfile::TempDir>,
    bridge: String,
    /// The iptables rules added, each as its table and rule (`-t nat POSTROUTING ...`).
    rules: Vec<Vec<String>>,
    /// Once started: until then, dropping it still undoes what was done (the bridge, the rules).
    dockerd: Option<Child>,
}

impl ScratchEngine {
    /// Starts one on the address range `x.y.0.0/16` (`prefix` is `x.y`): its bridge is
    /// `x.y.255.1/24`, its networks /24s of `x.y.0.0/17`. Waits until it answers.
    pub fn start(prefix: &str) -> anyhow::Result<ScratchEngine> {
        if !Path::new("/usr/sbin/ip").exists() && !Path::new("/sbin/ip").exists() {
            crate::engine::install_tool("ip", "iproute2", "a second engine's bridge")?;
        }
        // Short: a unix socket's path has room for about 100 bytes.
        let dir = tempfile::Builder::new().prefix("clabs-e2-").tempdir_in("/tmp")?;
        let bridge = format!("clabs-e{}", std::process::id() % 100_000);
        let mut engine = ScratchEngine { dir: Some(dir), bridge, rules: Vec::new(), dockerd: None };
        let range = format!("{prefix}.0.0/16");
        let tag = format!("containerlabs scratch engine {}", engine.bridge);
        let rules: [&[&str]; 3] = [
            &["-t", "filter", "FORWARD", "-s", &range, "-j", "ACCEPT"],
            &[
                "-t",
                "filter",
                "FORWARD",
                "-d",
                &range,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ],
            &["-t", "nat", "POSTROUTING", "-s", &range, "!", "-d", &range, "-j", "MASQUERADE"],
        ];
        let ip = |args: &[&str]| -> anyhow::Result<()> {
            let status = Command::new("ip").args(args).status().context("cannot run ip")?;
            if !status.success() {
                bail!("ip {} failed", args.join(" "));
            }
            Ok(())
        };
        ip(&["link", "add", &engine.bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{prefix}.255.1/24"), "dev", &engine.bridge])?;
        ip(&["link", "set", &engine.bridge, "up"])?;
        for rule in rules {
            let mut rule: Vec<String> = rule.iter().map(|a| a.to_string()).collect();
            rule.extend(["-m", "comment", "--comment", &tag].map(String::from));
            let (table, chain) = (&rule[..2], &rule[2..]);
            let added = Command::new("iptables").args(table).arg("-I").args(chain).status();
            if !added.is_ok_and(|s| s.success()) {
                bail!("iptables could not add the scratch engine's rule {}", chain.join(" "));
            }
            engine.rules.push(rule);
        }
        let folder = engine.folder().to_path_buf();
        let path = |name: &str| folder.join(name).display().to_string();
        let log = std::fs::File::create(folder.join("dockerd.log"))?;
        let dockerd = Command::new("dockerd")
            .args(["--host", &format!("unix://{}", path("docker.sock"))])
            .args(["--data-root", &path("root"), "--exec-root", &path("exec"), "--pidfile", &path("docker.pid")])
            .args(["--bridge", &engine.bridge, "--iptables=false", "--ip-masq=false"])
            .args(["--default-address-pool", &format!("base={prefix}.0.0/17,size=24")])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start dockerd")?;
        engine.dockerd = Some(dockerd);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if provision::engine::answers(&engine.host()) {
                return Ok(engine);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the scratch dockerd did not answer within 30 s: {}", engine.log().display())
    }

    /// Its endpoint, for DOCKER_HOST.
    pub fn host(&self) -> String {
        format!("unix://{}", self.folder().join("docker.sock").display())
    }

    /// dockerd's log.
    pub fn log(&self) -> PathBuf {
        self.folder().join("dockerd.log")
    }

    fn folder(&self) -> &Path {
        self.dir.as_ref().expect("until dropped").path()
    }
}

impl Drop for ScratchEngine {
    fn drop(&mut self) {
        if let Some(mut dockerd) = self.dockerd.take() {
            crate::process::signal(dockerd.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && dockerd.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = dockerd.kill();
            let _ = dockerd.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).status();
        for rule in self.rules.drain(..) {
            let _ = Command::new("iptables").args(&rule[..2]).arg("-D").args(&rule[2..]).status();
        }
        if let Some(dir) = self.dir.take() {
            // dockerd leaves a mount behind (its exec root's `netns/default`): unmounted first.
            let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
            for point in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
                if Path::new(point).starts_with(dir.path()) {
                    let _ = Command::new("umount").args(["--lazy", point]).status();
                }
            }
            let path = dir.path().to_path_buf();
            if dir.close().is_err() {
                eprintln!("the scratch engine's folder {} could not all be removed", path.display());
            }
        }
    }
}
