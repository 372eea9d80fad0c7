//! What `stack` says before it touches the engine: a missing `.env` or compose file is one line
//! that says what to do, exit 2, and nothing created.

use assert_cmd::cargo::cargo_bin_cmd;
use std::path::Path;

/// Whether the machine has a Compose; without one, `stack` names that first.
fn has_compose() -> bool {
    compose::compose_tool().is_some()
}

fn stack(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = cargo_bin_cmd!("stack")
        .current_dir(dir)
        .env("DOCKER_HOST", "unix:///nonexistent/clabs-no-engine.sock")
        .args(args)
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

#[test]
fn a_missing_env_file_is_one_line_that_says_to_copy_the_example() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
    std::fs::write(dir.path().join(".env.example"), "A=b\n").unwrap();
    for command in [&["--file", "compose.yaml", "up"][..], &["--file", "compose.yaml", "down", "--volumes"]] {
        let (code, stdout, stderr) = stack(dir.path(), command);
        assert_eq!(code, 2, "{command:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        if has_compose() {
            assert!(stderr.contains(".env is missing: copy .env.example to .env"), "{stderr}");
        } else {
            assert!(stderr.contains("neither `docker compose` (v2) nor `docker-compose` (v1)"), "{stderr}");
        }
    }
    // An --env-file that is not there is named as given.
    let (code, _, stderr) = stack(dir.path(), &["--file", "compose.yaml", "--env-file", "prod.env", "up"]);
    assert_eq!(code, 2, "{stderr}");
    if has_compose() {
        assert!(stderr.contains("the env file prod.env is missing: create it"), "{stderr}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "stack created files: {leftovers:?}");
}

#[test]
fn a_missing_compose_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = stack(dir.path(), &["--file", "nowhere/compose.yaml", "status"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    if has_compose() {
        assert!(stderr.contains("no compose file at nowhere/compose.yaml"), "{stderr}");
    }
}
