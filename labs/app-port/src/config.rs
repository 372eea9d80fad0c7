//! The board's configuration file, the way a packaged product is configured (Rocket.Chat's `PORT`
//! and `MONGO_URL`): `KEY=VALUE` lines, `#` comments, optional quotes and `export`. Read by the
//! board itself, never by a shell, so a value is only ever a value.
//!
//! Settings: `PORT` (the port to listen on; the package ships with 80), `DATA_FILE` (where
//! messages are kept; without it they live in memory and a restart loses them), `BIND` (the
//! address to listen on).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The settings a configuration file may hold.
pub const SETTINGS: [&str; 3] = ["PORT", "DATA_FILE", "BIND"];

/// What the file says; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub port: Option<u16>,
    pub data_file: Option<PathBuf>,
    pub bind: Option<IpAddr>,
}

/// Reads a configuration file's text; an error names the line and what to write instead.
pub fn parse(text: &str) -> Result<Config, String> {
    let mut config = Config::default();
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {number}: `{line}` is not KEY=VALUE"));
        };
        let key = key.trim();
        let value = unquote(value.trim());
        match key {
            "PORT" => {
                let port = value.parse::<u16>().ok().filter(|p| *p > 0);
                config.port = Some(port.ok_or_else(|| format!("line {number}: PORT={value} is not a port (1-65535)"))?);
            }
            "DATA_FILE" if value.is_empty() => config.data_file = None,
            "DATA_FILE" => config.data_file = Some(PathBuf::from(value)),
            "BIND" => {
                let address = value.parse::<IpAddr>().ok();
                config.bind = Some(address.ok_or_else(|| format!("line {number}: BIND={value} is not an IP address"))?);
            }
            other => return Err(format!("line {number}: unknown setting {other} (settings: {})", SETTINGS.join(", "))),
        }
    }
    Ok(config)
}

/// A quoted value is what is inside its quotes; an unquoted one ends at a ` #` comment.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(quote) {
            if let Some(end) = rest.find(quote) {
                return &rest[..end];
            }
        }
    }
    value.split(" #").next().unwrap_or(value).trim_end()
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_comments_quotes_and_export() {
        let text = "# the board\nexport PORT=3000\nDATA_FILE=\"/var/lib/board/messages.jsonl\"\nBIND='127.0.0.1' # loopback\n\n";
        assert_eq!(
            parse(text),
            Ok(Config {
                port: Some(3000),
                data_file: Some("/var/lib/board/messages.jsonl".into()),
                bind: Some("127.0.0.1".parse().unwrap())
            })
        );
        assert_eq!(
            parse("PORT=3000 # moved off 80\nDATA_FILE=\n").unwrap(),
            Config { port: Some(3000), ..Config::default() }
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        assert_eq!(parse("PORT=80\nPORT=eighty"), Err("line 2: PORT=eighty is not a port (1-65535)".into()));
        assert_eq!(parse("PORT=0"), Err("line 1: PORT=0 is not a port (1-65535)".into()));
        assert_eq!(
            parse("ROOT_URL=http://x"),
            Err("line 1: unknown setting ROOT_URL (settings: PORT, DATA_FILE, BIND)".into())
        );
        assert_eq!(parse("listen 3000"), Err("line 1: `listen 3000` is not KEY=VALUE".into()));
        assert_eq!(parse("BIND=localhost"), Err("line 1: BIND=localhost is not an IP address".into()));
    }
}
