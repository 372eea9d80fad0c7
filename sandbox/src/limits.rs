//! The caps every container of a run gets: memory (no swap beyond it), processes, CPU, log size
//! and the size of its writable layer. The proxy sets a cap where a request leaves it unset and
//! lowers it where a request asks for more; the run's disk watchdog stops a container that writes
//! more than its share (no storage driver here can cap a layer by itself).

use serde_json::{Map, Value};

/// Per-container caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory in bytes; swap is capped to the same figure (no swap beyond memory).
    pub memory: i64,
    /// Processes and threads.
    pub pids: i64,
    /// CPU time in billionths of a CPU (1_000_000_000 = one CPU).
    pub nano_cpus: i64,
    /// Bytes of logs kept per file, and files kept.
    pub log_bytes: i64,
    pub log_files: i64,
    /// Bytes a container may write into its own layer or its run's volumes.
    pub disk: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory: 1 << 30,
            pids: 512,
            nano_cpus: 1_000_000_000,
            log_bytes: 10 << 20,
            log_files: 2,
            disk: 1 << 30,
        }
    }
}

impl Limits {
    /// The caps for the toolbox that runs a submission's commands (Compose, a script).
    pub fn toolbox() -> Limits {
        Limits { memory: 512 << 20, pids: 256, ..Limits::default() }
    }

    /// Sets or lowers the resource fields of a `HostConfig` (a create or an update body).
    pub fn apply(&self, host: &mut Map<String, Value>) {
        let get = |host: &Map<String, Value>, key: &str| host.get(key).and_then(Value::as_i64).unwrap_or(0);
        let memory = match get(host, "Memory") {
            m if m > 0 && m <= self.memory => m,
            _ => self.memory,
        };
        host.insert("Memory".into(), memory.into());
        host.insert("MemorySwap".into(), memory.into());
        if get(host, "MemoryReservation") > memory {
            host.insert("MemoryReservation".into(), memory.into());
        }
        if !(1..=self.pids).contains(&get(host, "PidsLimit")) {
            host.insert("PidsLimit".into(), self.pids.into());
        }
        let (quota, period) = (get(host, "CpuQuota"), get(host, "CpuPeriod"));
        if quota > 0 {
            // CpuQuota and NanoCpus cannot both be set: keep the client's way, within the cap.
            let period = if period > 0 { period } else { 100_000 };
            let cap = self.nano_cpus / 1_000 * period / 1_000_000;
            host.insert("CpuQuota".into(), quota.min(cap).into());
        } else if !(1..=self.nano_cpus).contains(&get(host, "NanoCpus")) {
            host.insert("NanoCpus".into(), self.nano_cpus.into());
        }
        host.insert("OomKillDisable".into(), false.into());
        if get(host, "OomScoreAdj") < 0 {
            host.insert("OomScoreAdj".into(), 0.into());
        }
        // Logs: the engine's local files, each file and their number capped.
        let log = host.entry("LogConfig").or_insert_with(|| Value::Object(Map::new()));
        if !log.is_object() {
            *log = Value::Object(Map::new());
        }
        let log = log.as_object_mut().expect("an object");
        let kind = log.get("Type").and_then(Value::as_str).unwrap_or("").to_string();
        if kind.is_empty() {
            log.insert("Type".into(), "json-file".into());
        }
        if kind != "none" {
            let config = log.entry("Config").or_insert_with(|| Value::Object(Map::new()));
            if !config.is_object() {
                *config = Value::Object(Map::new());
            }
            let config = config.as_object_mut().expect("an object");
            let size = config.get("max-size").and_then(Value::as_str).and_then(parse_size);
            if !size.is_some_and(|s| s > 0 && s <= self.log_bytes) {
                config.insert("max-size".into(), format!("{}k", self.log_bytes >> 10).into());
            }
            let files = config.get("max-file").and_then(Value::as_str).and_then(|f| f.parse::<i64>().ok());
            if !files.is_some_and(|f| f > 0 && f <= self.log_files) {
                config.insert("max-file".into(), self.log_files.to_string().into());
            }
        }
    }

    /// Sets or lowers the resource parameters of a classic `POST /build` (its RUN steps).
    pub fn apply_to_build(&self, query: &mut Vec<(String, String)>) {
        let number = |query: &Vec<(String, String)>, key: &str| {
            query.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.parse::<i64>().ok()).unwrap_or(0)
        };
        let set = |query: &mut Vec<(String, String)>, key: &str, value: i64| {
            query.retain(|(k, _)| k != key);
            query.push((key.to_string(), value.to_string()));
        };
        let memory = match number(query, "memory") {
            m if m > 0 && m <= self.memory => m,
            _ => self.memory,
        };
        set(query, "memory", memory);
        set(query, "memswap", memory);
        let period = match number(query, "cpuperiod") {
            p if p > 0 => p,
            _ => 100_000,
        };
        let cap = self.nano_cpus / 1_000 * period / 1_000_000;
        let quota = match number(query, "cpuquota") {
            q if q > 0 && q <= cap => q,
            _ => cap,
        };
        set(query, "cpuperiod", period);
        set(query, "cpuquota", quota);
    }
}

/// `10m`, `512k`, `1g`, `1024` (bytes) as bytes.
fn parse_size(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let text = text.trim_end_matches('b');
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return None,
    };
    digits.parse::<i64>().ok().map(|n| n << shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn applied(host: Value) -> Value {
        let mut host = host.as_object().cloned().unwrap();
        Limits::default().apply(&mut host);
        Value::Object(host)
    }

    #[test]
    fn unset_and_excessive_limits_get_the_cap_and_lower_ones_stay() {
        let capped = applied(json!({}));
        assert_eq!(capped["Memory"], 1 << 30);
        assert_eq!(capped["MemorySwap"], 1 << 30);
        assert_eq!(capped["PidsLimit"], 512);
        assert_eq!(capped["NanoCpus"], 1_000_000_000);
        assert_eq!(
            capped["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "10240k", "max-file": "2"}})
        );
        let greedy = applied(
            json!({"Memory": 8i64 << 30, "PidsLimit": -1, "NanoCpus": 4_000_000_000i64, "OomKillDisable": true}),
        );
        assert_eq!((greedy["Memory"].as_i64(), greedy["PidsLimit"].as_i64()), (Some(1 << 30), Some(512)));
        assert_eq!(greedy["NanoCpus"], 1_000_000_000);
        assert_eq!(greedy["OomKillDisable"], false);
        let modest = applied(
            json!({"Memory": 256 << 20, "PidsLimit": 100, "NanoCpus": 500_000_000, "LogConfig": {"Type": "local", "Config": {"max-size": "1m", "max-file": "1"}}}),
        );
        assert_eq!((modest["Memory"].as_i64(), modest["MemorySwap"].as_i64()), (Some(256 << 20), Some(256 << 20)));
        assert_eq!(modest["PidsLimit"], 100);
        assert_eq!(modest["NanoCpus"], 500_000_000);
        assert_eq!(modest["LogConfig"], json!({"Type": "local", "Config": {"max-size": "1m", "max-file": "1"}}));
        let quota = applied(json!({"CpuQuota": 400_000, "CpuPeriod": 100_000}));
        assert_eq!((quota["CpuQuota"].as_i64(), quota.get("NanoCpus")), (Some(100_000), None));
    }

    #[test]
    fn builds_get_memory_and_cpu_caps() {
        let mut query = vec![("t".to_string(), "x:1".to_string()), ("memory".to_string(), "99999999999".to_string())];
        Limits::default().apply_to_build(&mut query);
        let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("memory"), Some("1073741824"));
        assert_eq!(get("memswap"), Some("1073741824"));
        assert_eq!((get("cpuperiod"), get("cpuquota")), (Some("100000"), Some("100000")));
        assert_eq!(get("t"), Some("x:1"));
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("512KB"), Some(512 << 10));
        assert_eq!(parse_size("huge"), None);
    }
}
