//! Lab 3 reference: a cache's own counters, read inside its container.
//!
//! The cache is on a back-end network and never published, so the counters are read the way an
//! operator would: `redis-cli info stats` / `info keyspace` for Redis, the `stats` command over
//! the container's own loopback for Memcached - through the Engine API (`exec`).

use anyhow::{bail, Context};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};

/// Which cache, by how its counters are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Redis,
    Memcached,
}

/// Hits, misses and keys, as the cache itself counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub hits: u64,
    pub misses: u64,
    pub keys: u64,
}

impl Counters {
    /// Hits per lookup, in percent (none when there was no lookup).
    pub fn hit_rate(&self) -> Option<f64> {
        let lookups = self.hits + self.misses;
        (lookups > 0).then(|| self.hits as f64 * 100.0 / lookups as f64)
    }
}

/// `name:value` (Redis) and `STAT name value` (Memcached) lines.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            match line.strip_prefix("STAT ") {
                Some(rest) => rest.split_once(' '),
                None => line.split_once(':'),
            }
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The counters from a Redis `INFO stats` + `INFO keyspace` or a Memcached `stats` dump.
pub fn counters(kind: Kind, text: &str) -> anyhow::Result<Counters> {
    let fields = parse(text);
    let number = |name: &str| -> anyhow::Result<u64> {
        fields.get(name).with_context(|| format!("the cache did not report {name}"))?.parse().context("not a number")
    };
    match kind {
        Kind::Redis => {
            // db0:keys=3,expires=1,avg_ttl=0 - one line per database.
            let keys = fields
                .iter()
                .filter(|(k, _)| k.starts_with("db") && k[2..].chars().all(|c| c.is_ascii_digit()))
                .filter_map(|(_, v)| {
                    v.split(',').find_map(|p| p.strip_prefix("keys=")).and_then(|n| n.parse::<u64>().ok())
                })
                .sum();
            Ok(Counters { hits: number("keyspace_hits")?, misses: number("keyspace_misses")?, keys })
        }
        Kind::Memcached => {
            Ok(Counters { hits: number("get_hits")?, misses: number("get_misses")?, keys: number("curr_items")? })
        }
    }
}

/// The command that prints the counters inside the cache's container.
pub fn command(kind: Kind) -> Vec<String> {
    let script = match kind {
        Kind::Redis => "redis-cli info stats && redis-cli info keyspace",
        Kind::Memcached => "exec 3<>/dev/tcp/127.0.0.1/11211 && printf 'stats\\r\\nquit\\r\\n' >&3 && cat <&3",
    };
    vec!["sh".into(), "-c".into(), script.into()]
}

/// The running container of `service` in compose project `project`.
pub async fn find(docker: &Docker, project: &str, service: &str) -> anyhow::Result<String> {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    let labels = [format!("com.docker.compose.project={project}"), format!("com.docker.compose.service={service}")];
    let filters: HashMap<&str, Vec<&str>> =
        [("label", labels.iter().map(String::as_str).collect())].into_iter().collect();
    let options = ListContainersOptionsBuilder::default().filters(&filters).build();
    let found = docker.list_containers(Some(options)).await.context("cannot list containers")?;
    found.into_iter().find_map(|c| c.id).with_context(|| {
        format!(
            "no running container of service {service} in compose project {project}: is the stack up (`stack status`)?"
        )
    })
}

/// Reads the counters of the cache in container `id`.
pub async fn read(docker: &Docker, id: &str, kind: Kind) -> anyhow::Result<Counters> {
    let options = bollard::exec::CreateExecOptions {
        cmd: Some(command(kind)),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = docker.create_exec(id, options).await.context("cannot run a command in the cache's container")?;
    let mut text = String::new();
    if let bollard::exec::StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await? {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
    }
    let code = docker.inspect_exec(&exec.id).await.ok().and_then(|i| i.exit_code).unwrap_or(-1);
    if code != 0 {
        bail!("reading the counters failed (exit {code}): {}", text.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    counters(kind, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_counters_with_keys_over_databases() {
        let text = "# Stats\r\nkeyspace_hits:30\r\nkeyspace_misses:10\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb1:keys=2,expires=0,avg_ttl=0\r\n";
        let c = counters(Kind::Redis, text).unwrap();
        assert_eq!(c, Counters { hits: 30, misses: 10, keys: 5 });
        assert_eq!(c.hit_rate(), Some(75.0));
    }

    #[test]
    fn memcached_counters_and_missing_fields() {
        let c =
            counters(Kind::Memcached, "STAT get_hits 4\r\nSTAT get_misses 0\r\nSTAT curr_items 2\r\nEND\r\n").unwrap();
        assert_eq!(c, Counters { hits: 4, misses: 0, keys: 2 });
        assert!(counters(Kind::Redis, "keyspace_hits:1\r\n").unwrap_err().to_string().contains("keyspace_misses"));
        assert_eq!(Counters::default().hit_rate(), None);
    }
}
