//! A container's `HostConfig` (the Engine API's JSON, as a create request sends it and an inspect
//! returns it): privileges, namespaces, profiles, mounts, drivers.

use crate::{capability, engine_socket, security_option, sysctl, Rule, Violation};
use serde_json::{Map, Value};
use std::path::{Component, Path, PathBuf};

/// Every rule a `HostConfig` breaks, except where bind mounts point (that needs the submission's
/// root: see [`host_path`]); mounts of the engine socket are judged here.
pub fn host_config(host: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    if host.get("Privileged").and_then(Value::as_bool) == Some(true) {
        found.push(Violation::new(Rule::Privileged, "privileged: true"));
    }
    found.extend(strings(host.get("CapAdd")).iter().filter_map(|c| capability(c)));
    for device in array(host.get("Devices")) {
        let path = device.get("PathOnHost").and_then(Value::as_str).unwrap_or("a device");
        found.push(Violation::new(Rule::Devices, format!("devices: {path}")));
    }
    if !array(host.get("DeviceRequests")).is_empty() {
        found.push(Violation::new(Rule::Devices, "gpus / device requests"));
    }
    for rule in strings(host.get("DeviceCgroupRules")) {
        found.push(Violation::new(Rule::Devices, format!("device_cgroup_rules: {rule}")));
    }
    found.extend(strings(host.get("SecurityOpt")).iter().filter_map(|o| security_option(o)));
    for (field, key) in [
        ("NetworkMode", "network_mode"),
        ("PidMode", "pid"),
        ("IpcMode", "ipc"),
        ("UTSMode", "uts"),
        ("UsernsMode", "userns_mode"),
        // Not the cgroup namespace: on cgroup v1 every container shares the host's (the engine's
        // default, so an inspected container always says "host"), and without privileges its
        // cgroup files are read-only.
    ] {
        if host.get(field).and_then(Value::as_str) == Some("host") {
            found.push(Violation::new(Rule::HostNamespaces, format!("{key}: host")));
        }
    }
    if let Some(sysctls) = host.get("Sysctls").and_then(Value::as_object) {
        found.extend(sysctls.keys().filter_map(|k| sysctl(k)));
    }
    if let Some(runtime) = host.get("Runtime").and_then(Value::as_str).filter(|r| !r.is_empty() && *r != "runc") {
        found.push(Violation::new(Rule::Runtime, format!("runtime: {runtime}")));
    }
    if let Some(parent) = host.get("CgroupParent").and_then(Value::as_str).filter(|p| !p.is_empty()) {
        found.push(Violation::new(Rule::CgroupParent, format!("cgroup_parent: {parent}")));
    }
    let log_driver = host.pointer("/LogConfig/Type").and_then(Value::as_str).unwrap_or("");
    if !matches!(log_driver, "" | "json-file" | "local" | "none") {
        found.push(Violation::new(Rule::LogDriver, format!("logging: driver {log_driver}")));
    }
    // An explicitly empty list unmasks /proc and /sys paths (what systempaths=unconfined does).
    for field in ["MaskedPaths", "ReadonlyPaths"] {
        if host.get(field).and_then(Value::as_array).is_some_and(Vec::is_empty) {
            found.push(Violation::new(Rule::SecurityProfiles, "security_opt: systempaths=unconfined"));
            break;
        }
    }
    for mount in mounts(host) {
        match &mount.kind {
            SourceKind::HostPath if engine_socket(&mount.source) => {
                found.push(Violation::new(Rule::EngineSocket, format!("volumes: {}:{}", mount.source, mount.target)))
            }
            SourceKind::Volume | SourceKind::Anonymous => {
                if let Some((driver, options)) = &mount.driver {
                    if let Err(violation) = volume_driver(driver, options) {
                        found.push(violation);
                    }
                }
            }
            SourceKind::Other(kind) => {
                found.push(Violation::new(Rule::HostPaths, format!("volumes: a {kind} mount at {}", mount.target)))
            }
            _ => {}
        }
        if let Some(propagation) = mount.propagation.as_deref().filter(|p| p.contains("shared") || p.contains("slave"))
        {
            found.push(Violation::new(
                Rule::HostPaths,
                format!("volumes: {}:{} with propagation {propagation}", mount.source, mount.target),
            ));
        }
    }
    found.sort();
    found.dedup();
    found
}

/// What a mount's source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A bind mount of a host path (absolute).
    HostPath,
    /// A named volume.
    Volume,
    /// A volume without a name (the engine makes one with 64 hex digits).
    Anonymous,
    Tmpfs,
    /// Anything else (`npipe`, `cluster`): the labs need none.
    Other(String),
}

/// One mount of a `HostConfig`, from `Binds` (`src:dst[:opts]`) or `Mounts` (long form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSource {
    pub kind: SourceKind,
    /// The host path or volume name (empty for an anonymous volume or a tmpfs).
    pub source: String,
    pub target: String,
    pub propagation: Option<String>,
    /// A volume's driver and its options, when the mount names them.
    pub driver: Option<(String, Map<String, Value>)>,
    /// Where it came from: `Binds` or `Mounts`, and its index there.
    pub origin: (&'static str, usize),
}

/// Every mount in `Binds` and `Mounts`.
pub fn mounts(host: &Value) -> Vec<MountSource> {
    let mut found = Vec::new();
    for (index, bind) in strings(host.get("Binds")).into_iter().enumerate() {
        let parts: Vec<&str> = bind.splitn(3, ':').collect();
        let (source, target, options) = match parts.as_slice() {
            [target] => ("", *target, ""),
            [source, target] => (*source, *target, ""),
            [source, target, options] => (*source, *target, *options),
            _ => continue,
        };
        let kind = if source.is_empty() {
            SourceKind::Anonymous
        } else if source.starts_with('/') {
            SourceKind::HostPath
        } else {
            SourceKind::Volume
        };
        let propagation = options
            .split(',')
            .find(|o| matches!(*o, "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"))
            .map(str::to_string);
        found.push(MountSource {
            kind,
            source: source.to_string(),
            target: target.to_string(),
            propagation,
            driver: None,
            origin: ("Binds", index),
        });
    }
    for (index, mount) in array(host.get("Mounts")).iter().enumerate() {
        let source = mount.get("Source").and_then(Value::as_str).unwrap_or("").to_string();
        let target = mount.get("Target").and_then(Value::as_str).unwrap_or("").to_string();
        let kind = match mount.get("Type").and_then(Value::as_str).unwrap_or("volume") {
            "bind" => SourceKind::HostPath,
            "volume" if source.is_empty() => SourceKind::Anonymous,
            "volume" => SourceKind::Volume,
            "tmpfs" => SourceKind::Tmpfs,
            other => SourceKind::Other(other.to_string()),
        };
        let driver = mount.pointer("/VolumeOptions/DriverConfig").filter(|d| !d.is_null()).map(|d| {
            let name = d.get("Name").and_then(Value::as_str).unwrap_or("").to_string();
            let options = d.get("Options").and_then(Value::as_object).cloned().unwrap_or_default();
            (name, options)
        });
        let propagation = mount.pointer("/BindOptions/Propagation").and_then(Value::as_str).map(str::to_string);
        found.push(MountSource { kind, source, target, propagation, driver, origin: ("Mounts", index) });
    }
    found
}

/// Where a bind mount may point: `path` (absolute, with symlinks and `..` already resolved by the
/// caller) must be inside `root` (the submission the run copied) and must not be an engine socket.
pub fn host_path(path: &str, root: &str) -> Option<Violation> {
    if engine_socket(path) {
        return Some(Violation::new(Rule::EngineSocket, format!("volumes: {path}")));
    }
    let root = root.trim_end_matches('/');
    let inside = path == root || path.starts_with(&format!("{root}/"));
    (!inside).then(|| Violation::new(Rule::HostPaths, format!("volumes: {path} (outside the submission)")))
}

/// `path` without `.` and `..` components, read as written (the file system is not asked): where
/// Compose and the engine take a relative bind source to be before any symlink is followed.
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where a bind source really leads: [`clean`], then the longest prefix that exists with its
/// symlinks resolved, and the rest appended as written. What [`host_path`] judges - the policy
/// proxy before it mounts anything (it mounts this path, not the one asked), and the `compose`
/// rules on a submission's files - so the two can never disagree about a path.
pub fn real_path(path: &Path) -> PathBuf {
    let normal = clean(path);
    let mut existing = normal.clone();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.into_iter().rev().fold(real, |acc: PathBuf, part| acc.join(part));
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return normal,
        }
    }
}

/// A volume's driver and options: only the `local` driver, as a plain volume or a tmpfs; a
/// `local` bind (`o=bind`, `device=PATH`) returns its device for the caller to judge with
/// [`host_path`]; a network file system (`type=nfs`, `o=addr=...`) or another driver is refused.
pub fn volume_driver(driver: &str, options: &Map<String, Value>) -> Result<Option<String>, Violation> {
    if !matches!(driver, "" | "local") {
        return Err(Violation::new(Rule::VolumeDriver, format!("volume driver {driver}")));
    }
    if options.is_empty() {
        return Ok(None);
    }
    let option = |key: &str| options.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let (kind, mount_options, device) = (option("type"), option("o"), option("device"));
    if mount_options.split(',').any(|o| o == "bind" || o == "rbind") {
        return Ok(Some(device));
    }
    if kind == "tmpfs" && !mount_options.contains("addr=") {
        return Ok(None);
    }
    let shown = if kind.is_empty() { mount_options } else { format!("type={kind}") };
    Err(Violation::new(Rule::VolumeDriver, format!("driver_opts: {shown}")))
}

/// A network driver other than `bridge`, or a bridge named after a host interface.
pub fn network_driver(driver: &str, options: &Map<String, Value>) -> Option<Violation> {
    if !matches!(driver, "" | "bridge") {
        return Some(Violation::new(Rule::NetworkDriver, format!("networks: driver {driver}")));
    }
    options
        .get("com.docker.network.bridge.name")
        .and_then(Value::as_str)
        .map(|name| Violation::new(Rule::NetworkDriver, format!("networks: bridge name {name}")))
}

fn array(value: Option<&Value>) -> Vec<Value> {
    value.and_then(Value::as_array).cloned().unwrap_or_default()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    array(value).iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(host: Value) -> Vec<(Rule, String)> {
        host_config(&host).into_iter().map(|v| (v.rule, v.field)).collect()
    }

    #[test]
    fn a_plain_container_breaks_nothing() {
        let inspected = json!({
            "Binds": ["web-data:/var/www/html", "/srv/run/sub/site:/usr/share/nginx/html:ro"],
            "NetworkMode": "lab3_default", "PidMode": "", "IpcMode": "private", "CgroupnsMode": "",
            "CapAdd": null, "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
            "MaskedPaths": ["/proc/kcore"], "ReadonlyPaths": ["/proc/sys"],
            "LogConfig": {"Type": "json-file", "Config": {}}, "Runtime": "runc", "Privileged": false,
            "Mounts": [{"Type": "tmpfs", "Target": "/tmp"}]
        });
        assert_eq!(rules(inspected), vec![]);
    }

    #[test]
    fn each_dangerous_field_names_its_rule() {
        let cases = [
            (json!({"Privileged": true}), Rule::Privileged, "privileged: true"),
            (json!({"CapAdd": ["SYS_BOOT"]}), Rule::Capabilities, "cap_add: SYS_BOOT"),
            (json!({"Devices": [{"PathOnHost": "/dev/kvm"}]}), Rule::Devices, "devices: /dev/kvm"),
            (
                json!({"SecurityOpt": ["seccomp=unconfined"]}),
                Rule::SecurityProfiles,
                "security_opt: seccomp=unconfined",
            ),
            (json!({"NetworkMode": "host"}), Rule::HostNamespaces, "network_mode: host"),
            (json!({"PidMode": "host"}), Rule::HostNamespaces, "pid: host"),
            (json!({"IpcMode": "host"}), Rule::HostNamespaces, "ipc: host"),
            (json!({"UTSMode": "host"}), Rule::HostNamespaces, "uts: host"),
            (json!({"Sysctls": {"kernel.core_pattern": "|/x"}}), Rule::Sysctls, "sysctls: kernel.core_pattern"),
            (json!({"Runtime": "sysbox-runc"}), Rule::Runtime, "runtime: sysbox-runc"),
            (json!({"CgroupParent": "/"}), Rule::CgroupParent, "cgroup_parent: /"),
            (json!({"LogConfig": {"Type": "syslog"}}), Rule::LogDriver, "logging: driver syslog"),
            (json!({"MaskedPaths": []}), Rule::SecurityProfiles, "security_opt: systempaths=unconfined"),
            (
                json!({"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}),
                Rule::EngineSocket,
                "volumes: /var/run/docker.sock:/var/run/docker.sock",
            ),
            (
                json!({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]}),
                Rule::EngineSocket,
                "volumes: /:/host",
            ),
            (
                json!({"Mounts": [{"Type": "volume", "Target": "/d", "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": "nfs", "o": "addr=10.0.0.1"}}}}]}),
                Rule::VolumeDriver,
                "driver_opts: type=nfs",
            ),
            (json!({"Binds": ["/srv/x:/x:rshared"]}), Rule::HostPaths, "volumes: /srv/x:/x with propagation rshared"),
        ];
        for (host, rule, field) in cases {
            assert_eq!(rules(host.clone()), vec![(rule, field.to_string())], "{host}");
        }
    }

    #[test]
    fn bind_paths_stay_in_the_submission() {
        assert_eq!(host_path("/tmp/run/sub/site", "/tmp/run/sub"), None);
        assert_eq!(host_path("/tmp/run/sub", "/tmp/run/sub/"), None);
        assert_eq!(host_path("/tmp/run/subway", "/tmp/run/sub").map(|v| v.rule), Some(Rule::HostPaths));
        assert_eq!(host_path("/etc", "/tmp/run/sub").map(|v| v.rule), Some(Rule::HostPaths));
        assert_eq!(host_path("/var/run/docker.sock", "/").map(|v| v.rule), Some(Rule::EngineSocket));
    }

    #[test]
    fn volume_and_network_drivers() {
        let options = |pairs: &[(&str, &str)]| -> Map<String, Value> {
            pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
        };
        assert_eq!(volume_driver("local", &options(&[])), Ok(None));
        assert_eq!(volume_driver("", &options(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=10m")])), Ok(None));
        assert_eq!(
            volume_driver("local", &options(&[("type", "none"), ("o", "bind"), ("device", "/etc")])),
            Ok(Some("/etc".to_string()))
        );
        assert!(volume_driver("local", &options(&[("type", "cifs"), ("o", "addr=x")])).is_err());
        assert!(volume_driver("rexray", &options(&[])).is_err());
        assert_eq!(network_driver("bridge", &Map::new()), None);
        assert!(network_driver("macvlan", &Map::new()).is_some());
        assert!(network_driver("host", &Map::new()).is_some());
        assert!(network_driver("", &options(&[("com.docker.network.bridge.name", "docker0")])).is_some());
    }
}
