//! The proxy's configuration file (TOML).
//!
//! ```toml
//! hsts = true                    # Strict-Transport-Security on HTTPS answers
//! redirect_http = true           # HTTP answers 301 to HTTPS (when https is set)
//! forwarded_headers = true       # X-Forwarded-For/-Proto/-Host and X-Real-IP to upstreams
//!
//! [listen]
//! http = "0.0.0.0:80"            # answers 301 to HTTPS when https is set, else proxies
//! https = "0.0.0.0:443"          # optional
//!
//! [tls]                          # needed with https
//! cert = "certs/cert.pem"        # PEM chain; with self_signed, generated on first start if missing
//! key = "certs/key.pem"
//! self_signed = ["localhost", "127.0.0.1"]   # names for a generated certificate
//!
//! [timeouts]
//! connect = "2s"                 # upstream connect: 502 when it fails
//! response = "30s"               # upstream answer: 504 when it is late
//!
//! [[route]]                      # longest matching path prefix wins; routes with a host first
//! host = "app.localhost"         # optional: only for this Host header
//! path = "/"
//! upstream = "http://127.0.0.1:3000"
//! strip_prefix = false           # drop `path` before forwarding
//! ```

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: Listen,
    pub tls: Option<Tls>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Send `Strict-Transport-Security` on HTTPS answers (default true).
    #[serde(default = "yes")]
    pub hsts: bool,
    /// Answer plain HTTP with 301 to HTTPS when HTTPS is on (default true; false proxies HTTP too).
    #[serde(default = "yes")]
    pub redirect_http: bool,
    /// Set `X-Forwarded-For/-Proto/-Host` and `X-Real-IP` (default true; turn off only behind
    /// another proxy that sets them).
    #[serde(default = "yes")]
    pub forwarded_headers: bool,
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Generate a self-signed certificate for these names when `cert` and `key` are missing.
    #[serde(default)]
    pub self_signed: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "connect_default", deserialize_with = "duration")]
    pub connect: Duration,
    #[serde(default = "response_default", deserialize_with = "duration")]
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts { connect: connect_default(), response: response_default() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub host: Option<String>,
    pub path: String,
    pub upstream: String,
    #[serde(default)]
    pub strip_prefix: bool,
}

fn yes() -> bool {
    true
}

fn connect_default() -> Duration {
    Duration::from_secs(2)
}

fn response_default() -> Duration {
    Duration::from_secs(30)
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        return Err(serde::de::Error::custom(format!("duration '{text}' needs a unit: \"500ms\" or \"3s\"")));
    };
    let value: f64 =
        number.trim().parse().map_err(|_| serde::de::Error::custom(format!("duration '{text}' is not a number")))?;
    Ok(Duration::from_secs_f64(value * scale))
}

impl Config {
    /// Reads and checks a config file; errors are one line naming the file (and line) and the fix.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config '{}': {e}; pass --config FILE", path.display()))?;
        Config::parse(&text).map_err(|e| format!("config '{}' {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            match line {
                Some(line) => format!("is malformed: line {line}: {message}"),
                None => format!("is malformed: {message}"),
            }
        })?;
        config.check().map_err(|e| format!("is invalid: {e}"))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.routes.is_empty() {
            return Err("no [[route]]: add at least one (path and upstream)".into());
        }
        for route in &self.routes {
            if !route.path.starts_with('/') {
                return Err(format!("route path '{}' must start with /", route.path));
            }
            let Some(rest) = route.upstream.strip_prefix("http://") else {
                return Err(format!("upstream '{}' must start with http:// (TLS ends at the proxy)", route.upstream));
            };
            if rest.is_empty() || rest.contains('/') && !rest.ends_with('/') {
                return Err(format!("upstream '{}' must be http://host:port (no path)", route.upstream));
            }
        }
        if self.listen.https.is_some() && self.tls.is_none() {
            return Err("listen.https is set but [tls] is missing (cert and key, or self_signed names)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[listen]
http = "127.0.0.1:8000"
https = "127.0.0.1:8443"
[tls]
cert = "c.pem"
key = "k.pem"
self_signed = ["localhost"]
[[route]]
path = "/"
upstream = "http://127.0.0.1:8080"
"#;

    #[test]
    fn parses_and_defaults() {
        let config = Config::parse(GOOD).unwrap();
        assert_eq!(config.timeouts.connect, Duration::from_secs(2));
        assert!(config.hsts);
        assert_eq!(config.routes[0].upstream, "http://127.0.0.1:8080");
    }

    #[test]
    fn errors_say_where_and_what() {
        let check = |text: &str, expected: &str| assert_eq!(Config::parse(text).unwrap_err(), expected);
        check("[listen\n", "is malformed: line 1: invalid table header expected `.`, `]`");
        check(&GOOD.replace("path = \"/\"", "path = \"x\""), "is invalid: route path 'x' must start with /");
        check(
            &GOOD.replace("http://127.0.0.1:8080", "https://x:1"),
            "is invalid: upstream 'https://x:1' must start with http:// (TLS ends at the proxy)",
        );
        check(
            &GOOD.replace("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nself_signed = [\"localhost\"]\n", ""),
            "is invalid: listen.https is set but [tls] is missing (cert and key, or self_signed names)",
        );
        check(
            &GOOD.replace("[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:8080\"\n", ""),
            "is invalid: no [[route]]: add at least one (path and upstream)",
        );
        check(
            &format!("{GOOD}\n[timeouts]\nconnect = \"2\"\n"),
            "is malformed: line 14: duration '2' needs a unit: \"500ms\" or \"3s\"",
        );
    }
}
