//! `counters`: a cache is really used - traffic through the app moves the cache's own counters.
//!
//! Reads counters inside the cache's container (e.g. `redis-cli info stats` for `keyspace_hits`
//! and `keyspace_misses`, or Memcached's `stats` for `get_hits` and `get_misses`), sends the
//! traffic (each request must also meet its own `expect`), reads again, and passes when the sum
//! of the named counters grew by at least `min_increase`. A cache that runs but that nothing is
//! wired to stays still, and fails.
//!
//! ```toml
//! [check.counters]
//! compose = { project = "{project}", service = "redis" }
//! command = ["redis-cli", "info", "stats"]
//! fields = ["keyspace_hits", "keyspace_misses"]
//! traffic = [{ url = "http://{host}:{port}/status.php" }]
//! ```

use super::container::{exec_output, find_all, ComposeService};
use super::http::HttpCheck;
use super::{Attempt, Context, Kind, Mismatch, Needs};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountersCheck {
    /// The cache's container by name ...
    pub name: Option<String>,
    /// ... or by Compose service.
    pub compose: Option<ComposeService>,
    /// Prints the counters as `name:value` or `STAT name value` lines.
    #[serde(default)]
    pub command: Vec<String>,
    /// The counters whose sum must grow.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Or, per image family of the cache (a Redis and a Memcached differ), its own command and fields.
    #[serde(default)]
    pub by_image: Vec<CountersOf>,
    /// The requests made between the two readings.
    pub traffic: Vec<HttpCheck>,
    #[serde(default = "one")]
    pub min_increase: u64,
}

/// The counters of caches of some image families.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountersOf {
    /// Image families, as a role's (`redis valkey`).
    pub images: String,
    pub command: Vec<String>,
    pub fields: Vec<String>,
}

fn one() -> u64 {
    1
}

/// How soon traffic that found no way in (nothing listening, a TLS handshake that failed) is sent again.
const UNREACHABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

impl CountersCheck {
    pub(crate) async fn attempt_at(&self, ctx: &Context, deadline: Instant) -> Attempt {
        let Some(docker) = &ctx.docker else {
            return Attempt::CannotRun("needs a Docker engine, and none was connected".into());
        };
        let work = async {
            let found = match find_all(docker, self.name.as_deref(), self.compose.as_ref(), ctx).await {
                Ok(mut all) => all.remove(0),
                Err(actual) => return Attempt::Fail(Mismatch::new("the cache's container to exist", actual)),
            };
            let id = found.id.clone().unwrap_or_default();
            let image = found.config.and_then(|c| c.image).unwrap_or_default();
            // A cache the submission built (`FROM redis:7.0`) is known by what its image runs.
            let mut runs = vec![super::select::family(&image)];
            let known = |runs: &[String]| {
                self.by_image.iter().find(|o| {
                    ctx.vars
                        .expand(&o.images)
                        .split([' ', ','])
                        .any(|f| runs.iter().any(|r| f.trim().eq_ignore_ascii_case(r)))
                })
            };
            if known(&runs).is_none() {
                runs.extend(super::container::image_runs(docker, found.image.as_deref().unwrap_or(&image)).await);
            }
            let (command, fields) = match known(&runs) {
                Some(of) => (&of.command, &of.fields),
                None if !self.command.is_empty() => (&self.command, &self.fields),
                None => {
                    return Attempt::Fail(Mismatch::new(
                        "a cache whose counters this check can read",
                        format!("the cache runs {image}, whose counters it does not know"),
                    ))
                }
            };
            let command: Vec<String> = command.iter().map(|a| ctx.vars.expand(a)).collect();
            let read = || async {
                match exec_output(docker, &id, &command, None).await {
                    Ok((0, output)) => Ok(total(fields, &parse_counters(&output))),
                    Ok((code, output)) => Err(Mismatch::new(
                        format!("`{}` to print the counters", command.join(" ")),
                        format!("it exited with {code}: {:?}", super::excerpt(&output, 160)),
                    )),
                    Err(e) => Err(Mismatch::new(
                        format!("`{}` to run in the cache's container", command.join(" ")),
                        e.to_string(),
                    )),
                }
            };
            let before = match read().await {
                Ok(Some(total)) => total,
                Ok(None) => return Attempt::Fail(missing_fields(fields)),
                Err(m) => return Attempt::Fail(m),
            };
            for request in &self.traffic {
                loop {
                    match request.attempt_or_unreachable(ctx, deadline).await {
                        Ok(Attempt::Fail(m)) => {
                            return Attempt::Fail(Mismatch {
                                expected: format!("the traffic to go through: {}", m.expected),
                                ..m
                            })
                        }
                        Ok(_) => break,
                        // The way in may still be starting: ask again until the deadline.
                        Err(_) if Instant::now() + UNREACHABLE_RETRY < deadline => {
                            tokio::time::sleep(UNREACHABLE_RETRY).await
                        }
                        // The way in is broken (no front door, no TLS): the checks of the way in
                        // fail for it; this one cannot tell whether the cache is used.
                        Err((_, why)) => {
                            return Attempt::CannotRun(format!(
                            "the traffic through the app could not be sent, so the cache's use cannot be judged: {why}"
                        ))
                        }
                    }
                }
            }
            let after = match read().await {
                Ok(Some(total)) => total,
                Ok(None) => return Attempt::Fail(missing_fields(fields)),
                Err(m) => return Attempt::Fail(m),
            };
            let grew = after.saturating_sub(before);
            if grew >= self.min_increase {
                Attempt::Pass
            } else {
                Attempt::Fail(Mismatch::new(
                    format!(
                        "{} to grow by at least {} while {} request(s) went through the app",
                        fields.join(" + "),
                        self.min_increase,
                        self.traffic.len()
                    ),
                    format!("{before} before, {after} after: the app did not use the cache"),
                ))
            }
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Fail(Mismatch::cut_off("the counters read twice", "the deadline passed first")),
        }
    }
}

impl Kind for CountersCheck {
    fn name(&self) -> &'static str {
        "counters"
    }

    fn needs(&self) -> Needs {
        Needs {
            engine: Some("it reads the cache's counters inside its container, through"),
            alone: true,
            ..Needs::LIVE
        }
    }

    fn strings(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.command.iter().map(String::as_str).collect();
        all.extend(self.name.as_deref());
        if let Some(c) = &self.compose {
            all.extend(c.strings());
        }
        for of in &self.by_image {
            all.push(of.images.as_str());
            all.extend(of.command.iter().map(String::as_str));
        }
        all.extend(self.traffic.iter().flat_map(HttpCheck::strings));
        all
    }

    fn validate(&self) -> Result<(), String> {
        if self.name.is_some() == self.compose.is_some() {
            return Err("give the cache's container as name or as compose, one of them".into());
        }
        let own = !self.command.is_empty() && !self.fields.is_empty();
        let per_image =
            !self.by_image.is_empty() && self.by_image.iter().all(|o| !o.command.is_empty() && !o.fields.is_empty());
        if !(own || per_image) || self.traffic.is_empty() {
            return Err("counters needs command and fields (or by_image entries with both), and traffic".into());
        }
        for (i, request) in self.traffic.iter().enumerate() {
            request.validate().map_err(|m| format!("traffic[{i}]: {m}"))?;
        }
        Ok(())
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, deadline: Instant, _interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(self.attempt_at(ctx, deadline))
    }
}

/// The sum of `fields`, if every one was printed.
fn total(fields: &[String], counters: &BTreeMap<String, u64>) -> Option<u64> {
    fields.iter().map(|f| counters.get(f).copied()).sum()
}

fn missing_fields(fields: &[String]) -> Mismatch {
    Mismatch::new(format!("counters {}", fields.join(", ")), "the counters command did not print them all")
}

/// `name:value` (Redis INFO) and `STAT name value` (Memcached) lines; other lines are skipped.
pub fn parse_counters(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (name, value) = match line.strip_prefix("STAT ") {
                Some(rest) => rest.split_once(' ')?,
                None => line.split_once(':')?,
            };
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn redis_and_memcached_formats() {
        let redis = super::parse_counters("# Stats\r\nkeyspace_hits:12\r\nkeyspace_misses:3\r\nrole:master\r\n");
        assert_eq!(redis.get("keyspace_hits"), Some(&12));
        assert_eq!(redis.get("keyspace_misses"), Some(&3));
        assert!(!redis.contains_key("role"));
        let memcached = super::parse_counters("STAT get_hits 7\r\nSTAT get_misses 2\r\nEND\r\n");
        assert_eq!(memcached.get("get_hits"), Some(&7));
    }
}
