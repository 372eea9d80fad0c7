//! What a command will need from the machine, made while cargo compiles the grader.
//!
//! [`plan`] reads the command line the way the grader will (only as far as it must: the command,
//! the lab, `--up`, `--var`, `--images`), and the lab's services in `labs/labs.toml`: `check lab3
//! --up` needs an engine, the Debian base, the toolbox and the stand-ins of the official images
//! lab 3's services name. [`run`] makes them - the engine first (installed and started when none
//! answers and this machine may), then the base, then the stand-ins a few at once - and writes
//! what it did, each line with the seconds since it began, to [`crate::prefetch_log`]. It is a head start, not a
//! second grader: whatever it did not finish, or got wrong, the grader makes itself.

use crate::images::{self, Built, Cli};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// What to make before the grader asks for it: always an engine that answers (installed and
/// started if it may be), and on it these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The images to make on the engine, (tag, folder under `images/`), the Debian base first when any is
    /// there.
    pub images: Vec<(String, String)>,
    /// Stand-ins among them that give way to their official image when it is here or can be
    /// pulled, as the grader's `--images auto` has it: (official image, stand-in's tag).
    pub pull_first: Vec<(String, String)>,
}

/// Flags of the grader's commands that take a value (so the value is not taken for the lab).
const WITH_VALUE: &[&str] = &[
    "--step",
    "--submission",
    "--var",
    "--images",
    "--timeout",
    "--format",
    "--out",
    "--student",
    "--text-out",
    "--html-out",
    "--submissions",
    "--roster",
    "--jobs",
    "--engine",
    "--shard",
    "--merge",
    "--similarity",
    "--interval",
];

/// What `args` (the grader's command line, without the program) will need, given the curriculum
/// `labs_toml`; `None` when it needs nothing made (no engine, or nothing to build on one).
/// `images_env` is `CLABS_IMAGES`, which `--images` overrides.
pub fn plan(args: &[String], labs_toml: &str, images_env: Option<&str>) -> Option<Plan> {
    let command = args.first()?.as_str();
    let rest = &args[1..];
    let flag = |name: &str| rest.iter().any(|a| a == name);
    let mut values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut positional = Vec::new();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        if let Some((name, value)) = word.split_once('=').filter(|(n, _)| WITH_VALUE.contains(n)) {
            values.entry(name).or_default().push(value.to_string());
        } else if let Some(name) = WITH_VALUE.iter().find(|n| **n == word) {
            values.entry(name).or_default().extend(words.next().cloned());
        } else if !word.starts_with('-') {
            positional.push(word.clone());
        }
    }
    let source = values.get("--images").and_then(|v| v.last().cloned()).or(images_env.map(str::to_string));
    let pull_only = source.as_deref() == Some("pull");
    let every = || {
        let catalogue = images::catalogue_of_images();
        let mut all: Vec<(String, String)> =
            catalogue.stand_ins.iter().filter(|s| !s.dir.is_empty()).map(|s| (s.tag.clone(), s.dir.clone())).collect();
        all.push((catalogue.toolbox.tag.clone(), catalogue.toolbox.dir.clone()));
        all
    };
    let auto = matches!(source.as_deref(), None | Some("auto"));
    let lab_needs = || -> Plan {
        let Some(lab) = positional.first() else { return Plan::default() };
        let overrides = values.get("--var").cloned().unwrap_or_default();
        let mut wanted = vec![(images::toolbox_tag().to_string(), images::catalogue_of_images().toolbox.dir.clone())];
        let mut pull_first = Vec::new();
        if !pull_only {
            for (stand_in, official) in stand_ins_of(labs_toml, lab, &overrides) {
                pull_first.extend(official.filter(|_| auto).map(|o| (o, stand_in.0.clone())));
                wanted.push(stand_in);
            }
        }
        Plan { images: wanted, pull_first }
    };
    let plan = match command {
        "engine" => Plan::default(),
        "images" | "test" => Plan { images: every(), pull_first: Vec::new() },
        "check" if flag("--up") && !flag("--no-engine") => lab_needs(),
        "up" => lab_needs(),
        "grade" if !flag("--no-up") && !values.contains_key("--merge") => lab_needs(),
        _ => return None,
    };
    Some(plan)
}

/// The stand-ins ((tag, folder), and the official image when the lab names that rather than the
/// stand-in itself) of the images the services of `lab` name, its variables as `overrides`
/// (`name=value`) leave them; none for a lab the curriculum does not have.
fn stand_ins_of(labs_toml: &str, lab: &str, overrides: &[String]) -> Vec<((String, String), Option<String>)> {
    let Ok(curriculum) = labs_toml.parse::<toml::Table>() else { return Vec::new() };
    let labs = curriculum.get("lab").and_then(|l| l.as_array()).cloned().unwrap_or_default();
    let Some(lab) = labs.iter().find(|l| l.get("id").and_then(|i| i.as_str()) == Some(lab)) else {
        return Vec::new();
    };
    let mut vars: BTreeMap<String, String> = lab
        .get("vars")
        .and_then(|v| v.as_table())
        .map(|t| t.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    vars.extend(overrides.iter().filter_map(|o| o.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())));
    let services = lab.get("service").and_then(|s| s.as_array()).cloned().unwrap_or_default();
    let mut wanted = Vec::new();
    for named in services.iter().filter_map(|s| s.get("images")?.as_array().cloned()).flatten() {
        let mut image = named.as_str().unwrap_or_default().to_string();
        for (name, value) in &vars {
            image = image.replace(&format!("{{{name}}}"), value);
        }
        let stand_in = images::stand_ins().iter().find(|s| s.official == image || s.tag == image);
        if let Some(s) = stand_in.filter(|s| !s.dir.is_empty()) {
            if !wanted.iter().any(|((t, _), _)| t == &s.tag) {
                let official = (s.official == image).then(|| image.clone());
                wanted.push(((s.tag.clone(), s.dir.clone()), official));
            }
        }
    }
    wanted
}

/// Makes what `plan` names for the course at `root`, writing progress to `log` (each line with
/// the seconds since `began`). Returns whether all of it was made.
pub fn run(root: &Path, plan: &Plan, log: &(dyn Fn(String) + Sync), began: Instant) -> bool {
    let stamp = |what: String| log(format!("{:7.1} s  {what}", began.elapsed().as_secs_f64()));
    let endpoint = match crate::engine::answering() {
        Some(endpoint) => {
            stamp(format!("the engine: answering at {endpoint}"));
            endpoint
        }
        None if crate::engine::can_provision() => {
            let started = (|| {
                let _lock = crate::engine::provisioning()?;
                if let Some(endpoint) = crate::engine::answering() {
                    return anyhow::Ok(endpoint);
                }
                crate::engine::install_and_start()?;
                crate::engine::wait_answering(Duration::from_secs(60))
                    .ok_or_else(|| anyhow::anyhow!("dockerd did not answer within 60 s"))
            })();
            match started {
                Ok(endpoint) => {
                    stamp(format!("the engine: installed and started, answering at {endpoint}"));
                    endpoint
                }
                Err(why) => {
                    stamp(format!("the engine: {why:#} (the grader will say more)"));
                    return false;
                }
            }
        }
        None => {
            stamp("the engine: none answers, and this machine installs none (the grader will say what to do)".into());
            return false;
        }
    };
    if plan.images.is_empty() {
        return true;
    }
    let cli = Cli::new(&endpoint);
    let say = |line: String| stamp(line.trim().to_string());
    let Ok(_lock) = images::build_lock(root, &say) else { return false };
    let builds = to_make(plan, |o| cli.image_id(o).is_some(), |o| cli.pull(o), &|line| stamp(line));
    if builds.is_empty() {
        stamp("done".into());
        return true;
    }
    match images::debian_base(&cli, &say) {
        Ok(built) => stamp(format!("the Debian base: {}", how(built))),
        Err(why) => {
            stamp(format!("the Debian base: {why:#}"));
            return false;
        }
    }
    let done = |tag: &str, built: Built| stamp(format!("{tag}: {}", how(built)));
    match images::stand_ins_at_once(&cli, root, &builds, &say, &done) {
        Ok(()) => {
            stamp("done".into());
            true
        }
        Err(why) => {
            stamp(format!("stopped: {why:#}"));
            false
        }
    }
}

/// The images of `plan` to make: all but the stand-ins whose official image is `here` or can be
/// pulled (`pull`), as the grader's `--images auto` has it. After one pull fails, the rest are
/// not tried. Says what it found for each official image.
fn to_make(
    plan: &Plan,
    here: impl Fn(&str) -> bool,
    mut pull: impl FnMut(&str) -> Result<(), String>,
    say: &dyn Fn(String),
) -> Vec<(String, String)> {
    let mut builds = plan.images.clone();
    let mut pulls = true;
    for (official, stand_in) in &plan.pull_first {
        let official_used = if here(official) {
            say(format!("{official}: here already"));
            true
        } else if !pulls {
            false
        } else {
            match pull(official) {
                Ok(()) => {
                    say(format!("{official}: pulled"));
                    true
                }
                Err(why) => {
                    say(format!("{official}: not pulled ({why}); the stand-ins are made instead"));
                    pulls = false;
                    false
                }
            }
        };
        if official_used {
            builds.retain(|(tag, _)| tag != stand_in);
        }
    }
    builds
}

fn how(built: Built) -> &'static str {
    match built {
        Built::Fresh => "built",
        Built::Cached => "ready already",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn curriculum() -> String {
        std::fs::read_to_string(crate::workspace_root().join("labs/labs.toml")).unwrap()
    }

    fn folders(plan: &Plan) -> Vec<&str> {
        let mut dirs: Vec<&str> = plan.images.iter().map(|(_, d)| d.as_str()).collect();
        dirs.sort();
        dirs
    }

    #[test]
    fn a_lab_brought_up_needs_its_services_stand_ins_and_the_toolbox() {
        let labs = curriculum();
        let lab3 = plan(&args("check lab3 --up --solutions"), &labs, None).unwrap();
        assert_eq!(folders(&lab3), ["mariadb", "memcached", "nextcloud", "nginx", "redis", "toolbox", "wordpress"]);
        let lab2 = plan(&args("check --format json lab2 --up"), &labs, None).unwrap();
        assert_eq!(folders(&lab2), ["mariadb", "nginx", "toolbox"], "debian:bookworm-slim is the base itself");
        let lab1 = plan(&args("up lab1 --var=nginx_image=nginx:1.27"), &labs, None).unwrap();
        assert_eq!(folders(&lab1), ["nginx", "toolbox"]);
        let other = plan(&args("up lab1 --var nginx_image=caddy:2"), &labs, None).unwrap();
        assert_eq!(folders(&other), ["toolbox"], "an image with no stand-in is the grader's to pull");
        let grade = plan(&args("grade lab2 --submissions class --out grades --jobs 2"), &labs, None).unwrap();
        assert_eq!(folders(&grade), ["mariadb", "nginx", "toolbox"]);
    }

    #[test]
    fn what_needs_no_engine_or_pulls_its_images_gets_no_stand_ins() {
        let labs = curriculum();
        for line in ["check lab3", "check lab3 --up --no-engine", "lint", "book --check", "grade lab2 --no-up --out x"]
        {
            assert_eq!(plan(&args(line), &labs, None), None, "{line}");
        }
        assert_eq!(plan(&[], &labs, None), None);
        let pulled = plan(&args("check lab3 --up --images pull"), &labs, None).unwrap();
        assert_eq!(folders(&pulled), ["toolbox"]);
        let pulled = plan(&args("check lab3 --up"), &labs, Some("pull")).unwrap();
        assert_eq!(folders(&pulled), ["toolbox"]);
        let built = plan(&args("check lab3 --up --images=build"), &labs, Some("pull")).unwrap();
        assert_eq!(built.images.len(), 7, "--images overrides CLABS_IMAGES");
        assert_eq!(plan(&args("engine"), &labs, None), Some(Plan::default()), "the engine alone");
        assert_eq!(plan(&args("check lab9 --up"), &labs, None).unwrap().images.len(), 1, "an unknown lab: the toolbox");
    }

    #[test]
    fn with_images_auto_a_stand_in_gives_way_to_its_official_image_and_with_build_it_does_not() {
        let labs = curriculum();
        let auto = plan(&args("check lab2 --up"), &labs, None).unwrap();
        let mut officials: Vec<&str> = auto.pull_first.iter().map(|(o, _)| o.as_str()).collect();
        officials.sort();
        assert_eq!(officials, ["mariadb:10.11", "nginx:1.27"], "the toolbox has none: it is the course's own");
        assert!(auto.pull_first.iter().all(|(_, tag)| auto.images.iter().any(|(t, _)| t == tag)));
        let explicit = plan(&args("check lab2 --up --images auto"), &labs, Some("build")).unwrap();
        assert_eq!(explicit.pull_first, auto.pull_first);
        let built = plan(&args("check lab2 --up"), &labs, Some("build")).unwrap();
        assert!(built.pull_first.is_empty());
        assert_eq!(built.images, auto.images, "the same stand-ins, made whatever a registry has");
        let named = plan(&args("up lab1 --var nginx_image=containerlabs/nginx:1.27-standin"), &labs, None).unwrap();
        assert_eq!((folders(&named), named.pull_first.len()), (vec!["nginx", "toolbox"], 0), "a stand-in named itself");
    }

    #[test]
    fn an_official_image_here_or_pulled_is_used_and_after_a_failed_pull_none_is_tried() {
        let labs = curriculum();
        let lab3 = plan(&args("check lab3 --up"), &labs, None).unwrap();
        let tried = std::cell::RefCell::new(Vec::new());
        let said = std::cell::RefCell::new(Vec::new());
        let builds = to_make(
            &lab3,
            |official| official == "redis:7.0",
            |official| {
                tried.borrow_mut().push(official.to_string());
                if official == "mariadb:10.11" {
                    Ok(())
                } else {
                    Err("dial tcp: lookup registry-1.docker.io: no such host".into())
                }
            },
            &|line| said.borrow_mut().push(line),
        );
        let mut made: Vec<&str> = builds.iter().map(|(_, dir)| dir.as_str()).collect();
        made.sort();
        assert_eq!(made, ["memcached", "nextcloud", "nginx", "toolbox", "wordpress"], "{:?}", said.borrow());
        assert_eq!(tried.borrow().len(), 2, "mariadb pulled, the next failed, no more tried: {:?}", tried.borrow());
        assert!(said.borrow().iter().any(|l| l == "redis:7.0: here already"), "{:?}", said.borrow());
        assert!(said.borrow().iter().any(|l| l == "mariadb:10.11: pulled"), "{:?}", said.borrow());
        let built = plan(&args("check lab3 --up --images build"), &labs, None).unwrap();
        let everything = to_make(&built, |_| true, |_| Ok(()), &|_| ());
        assert_eq!(everything.len(), 7, "--images build makes every stand-in, whatever is here");
    }

    #[test]
    fn the_test_suite_and_images_need_every_image() {
        let labs = curriculum();
        for line in ["test", "images"] {
            let all = plan(&args(line), &labs, None).unwrap();
            assert_eq!(
                folders(&all),
                ["mariadb", "memcached", "nextcloud", "nginx", "redis", "toolbox", "wordpress"],
                "{line}"
            );
        }
    }
}
