//! Where Compose finds its file: shared by the compose rules (`grading`) and lab 3's `stack`
//! tool, which runs in the sandbox and so is built without the grader.

use std::path::{Path, PathBuf};

/// The names Compose looks for in a folder, in its order.
pub const COMPOSE_FILE_NAMES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// The compose file at `path`: the file itself, or in a folder the first name Compose looks for
/// (the first name when there is none, for a message that names it).
pub fn compose_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        if let Some(found) = COMPOSE_FILE_NAMES.iter().map(|n| path.join(n)).find(|p| p.is_file()) {
            return found;
        }
        return path.join(COMPOSE_FILE_NAMES[0]);
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_gives_the_first_name_compose_finds_there() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(compose_file(dir.path()), dir.path().join("compose.yaml"), "none there: the first name");
        std::fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").unwrap();
        std::fs::write(dir.path().join("compose.yml"), "services: {}\n").unwrap();
        assert_eq!(compose_file(dir.path()), dir.path().join("compose.yml"));
        let file = dir.path().join("docker-compose.yml");
        assert_eq!(compose_file(&file), file, "a file is itself");
    }
}
