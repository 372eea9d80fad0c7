//! `cargo xtask watch`: run under tmux as a student runs it, it grades again within 2 s of a
//! deliverable changing and says which check changed and what to fix next.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of this test's own (its own socket), removed when dropped.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux").args(["-L", &self.0]).args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn pane(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "watch"])
    }

    /// Waits until the pane shows `text`; the time it took.
    fn wait_for(&self, text: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.pane().contains(text) {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{text:?} did not show within {limit:?}:\n{}", self.pane());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.0, "kill-server"]).status();
    }
}

#[test]
fn watch_grades_again_within_two_seconds_of_a_change() {
    if !integration("watch_grades_again_within_two_seconds_of_a_change") {
        return;
    }
    xtask::engine::install_tool("tmux", "tmux", "the watch test").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("cp").arg("-a").arg(workspace().join("labs")).arg(dir.path()).status().unwrap();
    assert!(status.success());
    let tmux = Tmux(format!("clabs-watch-{}", std::process::id()));
    let command =
        format!("{} watch lab1 --step static-site --submission {}", env!("CARGO_BIN_EXE_xtask"), dir.path().display());
    tmux.run(&["new-session", "-d", "-s", "watch", "-x", "220", "-y", "60", &command]);
    tmux.wait_for("watching labs/static-site", Duration::from_secs(60));
    assert!(tmux.pane().contains("next: static-site / site-index-file"), "{}", tmux.pane());

    let page = dir.path().join("labs/static-site/site/index.html");
    let text = std::fs::read_to_string(&page).unwrap();
    std::fs::write(&page, text.replace("<title></title>", "<title>Ada Lovelace - Portfolio</title>")).unwrap();
    let took = tmux.wait_for("now passes: site-index-file", Duration::from_secs(10));
    assert!(took < Duration::from_secs(2), "graded again {took:?} after the change:\n{}", tmux.pane());
    let pane = tmux.pane();
    assert!(pane.contains("labs/static-site/site/index.html changed"), "{pane}");
    assert!(pane.contains("next: static-site / site-answers") && pane.contains("hint:"), "{pane}");

    // A change back: the check that passed fails again, and says so.
    std::fs::write(&page, text).unwrap();
    tmux.wait_for("now fails: site-index-file", Duration::from_secs(10));
}
