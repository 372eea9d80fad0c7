//! A class's roster: who the students are and where their submissions are (a CSV, or what
//! `collect` wrote), each with a name safe as a file name.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// One student's submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub student: String,
    /// The student's name made safe as a file name (reports/STEM.json).
    pub stem: String,
    pub path: PathBuf,
    /// What `collect` found (its roster's columns), when the roster came from it.
    pub collected: Collected,
}

/// A roster row's `collect` columns: the commit graded, the commits after the deadline, and
/// whether there is anything to grade (`status` other than `collected`: the reason says why).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Collected {
    pub commit: String,
    pub late: Option<usize>,
    pub status: String,
    pub reason: String,
}

impl Collected {
    /// Nothing to grade: collect could not fetch it, or refused it.
    pub fn not_gradable(&self) -> bool {
        !self.status.is_empty() && self.status != "collected"
    }
}

/// A file name for `student`: letters, digits, `.`, `-` and `_` kept, the rest `_`.
pub fn stem(student: &str) -> String {
    let stem: String = student
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let stem = stem.trim_start_matches('.').to_string();
    if stem.is_empty() {
        "_".to_string()
    } else {
        stem
    }
}

/// A roster: CSV with a header naming `student` and `path` (in any order). The columns `collect`
/// adds (`commit`, `late`, `status`, `reason`) are read too; other columns are ignored.
pub fn read_roster(roster: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(roster)
        .with_context(|| format!("cannot read the roster {}", roster.display()))?;
    let headers = reader.headers().with_context(|| format!("{}: no header row", roster.display()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(student), Some(path)) = (column("student"), column("path")) else {
        bail!(
            "{}: the header must name a `student` and a `path` column (it has: {})",
            roster.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let base = roster.parent().unwrap_or(Path::new("."));
    let mut list = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {} is not CSV", roster.display(), line + 2))?;
        let name = record.get(student).unwrap_or_default().to_string();
        let dir = record.get(path).unwrap_or_default();
        let field = |name: &str| column(name).and_then(|i| record.get(i)).unwrap_or_default().to_string();
        let collected = Collected {
            commit: field("commit"),
            late: field("late").parse().ok(),
            status: field("status"),
            reason: field("reason"),
        };
        if name.is_empty() || (dir.is_empty() && !collected.not_gradable()) {
            bail!("{}: row {} needs a student and a path", roster.display(), line + 2);
        }
        let dir = Path::new(dir);
        let dir = if dir.is_absolute() { dir.to_path_buf() } else { base.join(dir) };
        list.push(Entry { stem: stem(&name), student: name, path: dir, collected });
    }
    Ok(list)
}

#[cfg(test)]
impl Entry {
    /// A student as the tests make one: their folder `subs/NAME`, nothing collected.
    pub(crate) fn named(name: &str) -> Entry {
        Entry {
            student: name.into(),
            stem: stem(name),
            path: PathBuf::from(format!("subs/{name}")),
            collected: Collected::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_file_names() {
        assert_eq!(stem("ada"), "ada");
        assert_eq!(stem("Ada Lovelace"), "Ada_Lovelace");
        assert_eq!(stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(stem(".hidden"), "hidden");
        assert_eq!(stem(""), "_");
    }

    #[test]
    fn rosters_name_students_and_their_folders() {
        let dir = tempfile::tempdir().unwrap();
        let roster = dir.path().join("roster.csv");
        std::fs::write(&roster, "email,Student,path\nx@y,\"Lovelace, Ada\", subs/ada \nz@y,bob,/abs/bob\n").unwrap();
        let list = read_roster(&roster).unwrap();
        assert_eq!(list[0].student, "Lovelace, Ada");
        assert_eq!(list[0].path, dir.path().join("subs/ada"));
        assert_eq!(list[1].path, PathBuf::from("/abs/bob"));
        std::fs::write(&roster, "name,dir\nada,a\n").unwrap();
        assert!(read_roster(&roster).unwrap_err().to_string().contains("must name a `student` and a `path` column"));
        std::fs::write(&roster, "student,path\nada,\n").unwrap();
        assert!(read_roster(&roster).unwrap_err().to_string().contains("row 2 needs a student and a path"));
    }
}
