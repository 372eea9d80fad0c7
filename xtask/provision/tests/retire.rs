//! A rebuild of one of the course's images removes the image it took the tag from - but never
//! one a container uses or someone tagged, and never one outside the course's names.

use provision::images::{build, BuildContext, Cli};
use std::collections::BTreeMap;
use std::process::Stdio;

/// The label on everything this test makes; it is removed by it at the end, however the test ends.
const LABEL: &str = "org.containerlabs.test-retire";

struct Made {
    cli: Cli,
    value: String,
}

impl Drop for Made {
    fn drop(&mut self) {
        let filter = format!("label={LABEL}={}", self.value);
        let ids = |what: &[&str]| {
            let output = self.cli.command().args(what).args(["--filter", &filter]).output().unwrap();
            String::from_utf8_lossy(&output.stdout).split_whitespace().map(String::from).collect::<Vec<_>>()
        };
        for id in ids(&["ps", "-aq"]) {
            let _ = self.cli.command().args(["rm", "-f", &id]).stdout(Stdio::null()).status();
        }
        for id in ids(&["images", "-aq", "--no-trunc"]) {
            let _ = self
                .cli
                .command()
                .args(["image", "rm", "-f", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn context(content: &str) -> Vec<u8> {
    let mut context = BuildContext::new();
    context.add("Dockerfile", b"FROM scratch\nCOPY file /file\n", 0o644).unwrap();
    context.add("file", content.as_bytes(), 0o644).unwrap();
    context.finish().unwrap()
}

fn exists(cli: &Cli, id: &str) -> bool {
    cli.command().args(["image", "inspect", id]).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap().success()
}

#[test]
fn a_rebuild_removes_the_image_it_replaced_unless_something_stands_on_it() {
    if std::env::var_os("CLABS_INTEGRATION").is_none() {
        eprintln!("skipped: set CLABS_INTEGRATION=1 (cargo xtask test does) to run it");
        return;
    }
    let endpoint = provision::engine::answering().expect("an engine answers");
    let cli = Cli::new(&endpoint);
    let value = std::process::id().to_string();
    let _made = Made { cli: cli.clone(), value: value.clone() };
    let labels = BTreeMap::from([(LABEL.to_string(), value.clone())]);
    let say = |_: String| {};
    let tag = format!("containerlabs/test-retire-{value}:1");
    let build_with = |content: &str, tag: &str| {
        build(&cli, tag, context(content), &labels, &say).unwrap();
        cli.image_id(tag).unwrap()
    };

    let first = build_with("one", &tag);
    let second = build_with("two", &tag);
    assert_ne!(first, second);
    assert!(!exists(&cli, &first), "the image the rebuild replaced is gone");

    // A container made from it (never started): the engine refuses, so it stays.
    let container =
        cli.command().args(["create", "--label", &format!("{LABEL}={value}"), &second, "/file"]).output().unwrap();
    assert!(container.status.success(), "{}", String::from_utf8_lossy(&container.stderr));
    let third = build_with("three", &tag);
    assert!(exists(&cli, &second), "a container uses it");

    // Tagged by someone else: it stays, and so does their tag.
    let theirs = format!("someone-else-{value}:kept");
    assert!(cli.command().args(["tag", &third, &theirs]).status().unwrap().success());
    build_with("four", &tag);
    assert_eq!(cli.image_id(&theirs).as_deref(), Some(third.as_str()), "their tag still names it");

    // Outside the course's names: a rebuild leaves the old image alone.
    let other = format!("test-retire-{value}:1");
    // (Contents of their own: the builder's cache would give an equal build the image of another.)
    let before = build_with("six", &other);
    build_with("seven", &other);
    assert!(exists(&cli, &before), "not one of the course's images");

    // Once the container is gone, the next rebuild of a course image takes the image it kept too.
    let id = String::from_utf8_lossy(&container.stdout).trim().to_string();
    assert!(cli.command().args(["rm", &id]).stdout(Stdio::null()).status().unwrap().success());
    build_with("five", &tag);
    assert!(!exists(&cli, &second), "nothing stands on it any more");
}
