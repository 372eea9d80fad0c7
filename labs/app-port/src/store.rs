//! Messages kept in memory and appended to a JSON-lines file, so they survive a restart.
//!
//! The file is the source of truth at start-up: every line is one message. A torn last line
//! (the process died mid-write) is skipped with a warning rather than refusing to start.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: u64,
    pub author: String,
    pub text: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[derive(Debug)]
pub struct Store {
    /// The data file; none: messages live in memory only, and a restart loses them.
    path: Option<PathBuf>,
    file: Option<File>,
    messages: Vec<Message>,
    /// Lines of the file that could not be read at start-up.
    pub skipped_lines: usize,
}

impl Store {
    /// Opens (creating if needed) the data file and loads what it holds.
    pub fn open(path: &Path) -> std::io::Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
        let mut messages = Vec::new();
        let mut skipped_lines = 0;
        for line in BufReader::new(&file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Message>(&line) {
                Ok(message) => messages.push(message),
                Err(_) => skipped_lines += 1,
            }
        }
        let mut file = file;
        if ends_without_newline(path)? {
            // Start the next message on a line of its own after a torn write.
            file.write_all(b"\n")?;
        }
        Ok(Store { path: Some(path.to_path_buf()), file: Some(file), messages, skipped_lines })
    }

    /// A store without a file: what the board does when its configuration names no data file.
    pub fn in_memory() -> Store {
        Store { path: None, file: None, messages: Vec::new(), skipped_lines: 0 }
    }

    /// The data file, if there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The newest `limit` messages, oldest first (chat order).
    pub fn recent(&self, limit: usize) -> &[Message] {
        &self.messages[self.messages.len().saturating_sub(limit)..]
    }

    /// Appends a message and writes it to the file before returning it.
    pub fn add(&mut self, author: String, text: String) -> std::io::Result<Message> {
        let id = self.messages.last().map_or(1, |m| m.id + 1);
        let message = Message { id, author, text, created_at: rfc3339_now() };
        let mut line = serde_json::to_vec(&message).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // One write of the whole line: readers never see half a message unless the process dies mid-call.
        if let Some(file) = &mut self.file {
            file.write_all(&line)?;
        }
        self.messages.push(message.clone());
        Ok(message)
    }
}

fn ends_without_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// The current time as RFC 3339 UTC, e.g. `2026-11-23T18:57:00Z`.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc3339(secs)
}

/// Formats Unix seconds as RFC 3339 UTC (civil-from-days, H. Hinnant).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_430_220), "2026-11-23T10:37:00Z");
    }

    #[test]
    fn survives_reopen_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/messages.jsonl");
        let mut store = Store::open(&path).unwrap();
        store.add("ada".into(), "hello".into()).unwrap();
        store.add("bob".into(), "hi".into()).unwrap();
        drop(store);
        // A process that died mid-write leaves half a line.
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"id\":3,\"auth").unwrap();
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.skipped_lines, 1);
        assert_eq!(store.recent(1)[0].text, "hi");
        assert_eq!(store.add("cy".into(), "again".into()).unwrap().id, 3);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.len(), 3, "the message after a torn line is kept");
    }
}
