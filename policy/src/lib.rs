//! What a submission may ask of the Docker engine - each rule defined once.
//!
//! Three places judge a submission's containers, and all three call these functions:
//! the policy proxy (the sandbox crate) refuses an Engine API request that breaks a rule before
//! the engine sees it; the static compose rules (`grading`'s `compose` check) judge a compose file
//! before anything runs; the live container checks (`confined`) judge a container that runs.
//! The proxy and the container check read the Engine API's own JSON (`HostConfig`), so a compose
//! file is judged by first writing its service in that shape ([`host_config`] takes it either way).
//!
//! It also says where Compose finds its file (`compose_file`), for the rules and lab 3's `stack`
//! tool alike. A rule is a pure function: no engine, no file system. Where a rule needs to know where the
//! submission lives (bind mounts), the caller resolves the path and passes the root ([`host_path`]).

mod compose;
mod host;
mod image;
pub mod labels;

pub use compose::{compose_file, COMPOSE_FILE_NAMES};
pub use host::{
    clean, host_config, host_path, mounts, network_driver, real_path, volume_driver, MountSource, SourceKind,
};
pub use image::{image_family, image_version_problem};

/// A rule: its id (what reports and hints name) and what it protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `privileged`: every device and capability of the host.
    Privileged,
    /// Capabilities beyond Docker's defaults.
    Capabilities,
    /// Host devices, GPUs, device cgroup rules.
    Devices,
    /// seccomp, AppArmor, SELinux or system paths turned off or replaced.
    SecurityProfiles,
    /// The host's network, PID, IPC, UTS or user namespace.
    HostNamespaces,
    /// The container engine's socket (or a directory holding it) mounted in.
    EngineSocket,
    /// A host path outside the submission mounted in.
    HostPaths,
    /// A sysctl the container's own namespaces do not hold.
    Sysctls,
    /// A runtime other than the engine's default.
    Runtime,
    /// A cgroup parent of the submission's choosing (it would escape the limits).
    CgroupParent,
    /// Logs sent anywhere but the engine's local files.
    LogDriver,
    /// A network driver other than `bridge`.
    NetworkDriver,
    /// A volume that is not a local volume (a network file system, a host path in disguise).
    VolumeDriver,
    /// An Engine API endpoint the labs do not need (swarm, plugins, prune, commit, ...).
    Endpoint,
    /// A container, network, volume or image this run did not create.
    Ownership,
    /// A build option that reaches past the build (host network, a remote context, BuildKit sessions).
    BuildOption,
}

impl Rule {
    /// The id a report names: `no-privileged`, `no-host-paths`, ...
    pub fn id(self) -> &'static str {
        match self {
            Rule::Privileged => "no-privileged",
            Rule::Capabilities => "no-added-capabilities",
            Rule::Devices => "no-devices",
            Rule::SecurityProfiles => "default-security-profiles",
            Rule::HostNamespaces => "no-host-namespaces",
            Rule::EngineSocket => "no-engine-socket",
            Rule::HostPaths => "no-host-paths",
            Rule::Sysctls => "namespaced-sysctls",
            Rule::Runtime => "default-runtime",
            Rule::CgroupParent => "no-cgroup-parent",
            Rule::LogDriver => "local-logs",
            Rule::NetworkDriver => "bridge-networks",
            Rule::VolumeDriver => "local-volumes",
            Rule::Endpoint => "lab-endpoints-only",
            Rule::Ownership => "own-objects-only",
            Rule::BuildOption => "contained-builds",
        }
    }

    /// Why the rule exists, for hints: one sentence a student can act on.
    pub fn explanation(self) -> &'static str {
        match self {
            Rule::Privileged => "a privileged container is root on the host: remove privileged",
            Rule::Capabilities => {
                "capabilities beyond Docker's defaults let a container reach the host: remove cap_add"
            }
            Rule::Devices => "host devices are the host's: remove devices",
            Rule::SecurityProfiles => "seccomp and AppArmor keep a container in its box: keep the default profiles",
            Rule::HostNamespaces => {
                "the host's namespaces are the host's: let the container have its own network, PID, IPC and UTS"
            }
            Rule::EngineSocket => "the engine's socket is root on the host: never mount it into a container",
            Rule::HostPaths => {
                "mount only files of the submission (relative paths) or named volumes, never other host paths"
            }
            Rule::Sysctls => "only sysctls of the container's own namespaces (net.*, IPC) can be set",
            Rule::Runtime => "use the engine's default runtime",
            Rule::CgroupParent => "a container's cgroup is the engine's to choose",
            Rule::LogDriver => "keep logs in the engine's local log files (json-file or local)",
            Rule::NetworkDriver => "use bridge networks (the default): other drivers reach the host's network",
            Rule::VolumeDriver => "use plain local volumes: driver options can mount host paths or remote shares",
            Rule::Endpoint => "the labs need containers, images, networks and volumes only",
            Rule::Ownership => "a submission touches only what it created itself",
            Rule::BuildOption => "build from the submission's own files, on the build's own network",
        }
    }
}

/// A rule broken by one field of a request or a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Violation {
    pub rule: Rule,
    /// What was asked, spelled as in a compose file: `privileged: true`, `cap_add: SYS_ADMIN`,
    /// `volumes: /var/run/docker.sock`.
    pub field: String,
}

impl Violation {
    pub fn new(rule: Rule, field: impl Into<String>) -> Violation {
        Violation { rule, field: field.into() }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (rule {})", self.field, self.rule.id())
    }
}

/// Docker's default capabilities (moby `oci/caps/defaults.go`): adding one of these changes nothing.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// An added capability beyond Docker's defaults (`ALL` included).
pub fn capability(cap: &str) -> Option<Violation> {
    let bare = cap.trim().to_ascii_uppercase();
    let bare = bare.strip_prefix("CAP_").unwrap_or(&bare);
    (!DEFAULT_CAPABILITIES.contains(&bare)).then(|| Violation::new(Rule::Capabilities, format!("cap_add: {bare}")))
}

/// A security option other than `no-new-privileges` (on) or AppArmor's default profile:
/// `seccomp=unconfined`, a custom seccomp profile, `apparmor=unconfined`, `label=disable`,
/// `systempaths=unconfined`, `no-new-privileges=false`.
pub fn security_option(option: &str) -> Option<Violation> {
    let normalized = option.trim().replacen(':', "=", 1);
    let allowed =
        matches!(normalized.as_str(), "no-new-privileges" | "no-new-privileges=true" | "apparmor=docker-default");
    (!allowed).then(|| {
        // A custom seccomp profile arrives as its whole JSON text: name it, do not quote it.
        let shown = if option.chars().count() > 60 {
            format!("{}...", option.chars().take(40).collect::<String>())
        } else {
            option.to_string()
        };
        Violation::new(Rule::SecurityProfiles, format!("security_opt: {shown}"))
    })
}

/// A sysctl outside the container's own network and IPC namespaces.
pub fn sysctl(name: &str) -> Option<Violation> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let namespaced = name.starts_with("net.") || name.starts_with("fs.mqueue.") || IPC.contains(&name);
    (!namespaced).then(|| Violation::new(Rule::Sysctls, format!("sysctls: {name}")))
}

/// Whether `path` (absolute, normalized) is a container engine's socket or a directory that holds one.
pub fn engine_socket(path: &str) -> bool {
    const SOCKETS: &[&str] = &[
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/var/run/containerd/containerd.sock",
        "/run/podman/podman.sock",
        "/var/run/crio/crio.sock",
        "/run/user",
    ];
    const NAMES: &[&str] = &["docker.sock", "containerd.sock", "podman.sock", "crio.sock", "dockershim.sock"];
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    let name = path.rsplit('/').next().unwrap_or(path);
    NAMES.contains(&name)
        || SOCKETS
            .iter()
            .any(|socket| *socket == path || socket.starts_with(&format!("{}/", path.trim_end_matches('/'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_docker_default_capabilities_may_be_added() {
        for cap in ["CHOWN", "cap_net_bind_service", "NET_RAW"] {
            assert_eq!(capability(cap), None, "{cap}");
        }
        for cap in ["SYS_ADMIN", "ALL", "SYS_BOOT", "CAP_NET_ADMIN", "SYS_NICE"] {
            assert_eq!(capability(cap).map(|v| v.rule), Some(Rule::Capabilities), "{cap}");
        }
    }

    #[test]
    fn security_options_keep_the_default_profiles() {
        for ok in ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true", "apparmor:docker-default"] {
            assert_eq!(security_option(ok), None, "{ok}");
        }
        for bad in [
            "seccomp=unconfined",
            "seccomp:unconfined",
            "apparmor=unconfined",
            "label=disable",
            "label:disable",
            "systempaths=unconfined",
            "no-new-privileges=false",
            "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[]}",
        ] {
            assert_eq!(security_option(bad).map(|v| v.rule), Some(Rule::SecurityProfiles), "{bad}");
        }
    }

    #[test]
    fn sysctls_must_be_namespaced() {
        assert_eq!(sysctl("net.ipv4.ip_unprivileged_port_start"), None);
        assert_eq!(sysctl("kernel.shmmax"), None);
        assert!(sysctl("kernel.core_pattern").is_some());
        assert!(sysctl("vm.overcommit_memory").is_some());
    }

    #[test]
    fn engine_sockets_and_the_directories_above_them() {
        for path in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/",
            "/var",
            "/var/run",
            "/run",
            "/run/",
            "/home/u/.docker/run/docker.sock",
            "/run/containerd",
        ] {
            assert!(engine_socket(path), "{path}");
        }
        for path in ["/srv/site", "/var/lib/mysql", "/tmp/x", "/runner"] {
            assert!(!engine_socket(path), "{path}");
        }
    }

    #[test]
    fn real_paths_follow_symlinks_and_dots() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("site")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        assert_eq!(crate::real_path(&root.join("site/../site/index.html")), root.join("site/index.html"));
        assert_eq!(crate::real_path(&root.join("escape/passwd")), std::path::PathBuf::from("/etc/passwd"));
        assert_eq!(crate::real_path(&root.join("site/../../..")), root.parent().unwrap().parent().unwrap());
    }
}
