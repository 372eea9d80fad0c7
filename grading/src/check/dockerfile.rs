//! `dockerfile`: static rules on a Dockerfile of the submission, read with the `dockerfile-parser`
//! crate (instructions, stages, `ARG` substitution in `FROM`), never by running it.
//!
//! Each rule is about the image the Dockerfile ends in - its last stage, and the stages it is
//! built `FROM` inside the file (a multi-stage build's `USER` or `HEALTHCHECK` carries over from
//! the stage it builds on). A rubric gives one rule per check, so each fault fails its own check.

use super::{Attempt, Context, Kind, Mismatch, Needs};
use dockerfile_parser::{Dockerfile, Instruction, ShellOrExecExpr, StageParent};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::path::{Component, Path};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerfileCheck {
    /// Path relative to the submission root.
    pub path: String,
    #[serde(default)]
    pub expect: DockerfileExpect,
}

/// The rules; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerfileExpect {
    /// Every `FROM` of an image names a version: a tag other than `latest`, or a digest.
    #[serde(default)]
    pub pinned_base: bool,
    /// The image runs as someone other than root: its last `USER` is not `root` or `0`.
    #[serde(default)]
    pub non_root: bool,
    /// No `ENV` or `ARG` whose name says it is a secret (password, secret, token, API key,
    /// private key, credentials): both end up in the image's history for anyone who pulls it.
    /// Names ending in `_FILE` or `_PATH` point at a secret and are fine.
    #[serde(default)]
    pub no_secrets: bool,
    /// Ports the image must `EXPOSE`.
    #[serde(default)]
    pub exposes: Vec<u16>,
    /// The image has a `HEALTHCHECK` (not `HEALTHCHECK NONE`).
    #[serde(default)]
    pub healthcheck: bool,
}

/// Most of a Dockerfile read.
const MAX_READ: u64 = 256 << 10;

impl DockerfileCheck {
    pub(crate) fn attempt_at(&self, ctx: &Context) -> Attempt {
        let relative = ctx.vars.expand(&self.path);
        let path = ctx.submission.join(&relative);
        let inside = match (path.canonicalize(), ctx.submission.canonicalize()) {
            (Ok(file), Ok(root)) => file.starts_with(root),
            _ => false,
        };
        if !path.is_file() || !inside {
            let actual = if !path.exists() {
                format!("{relative} does not exist")
            } else if !inside {
                format!("{relative} is a link to a file outside the submission")
            } else {
                format!("{relative} is not a regular file")
            };
            return Attempt::Fail(Mismatch::new(format!("a Dockerfile {relative}"), actual));
        }
        let text = match read_prefix(&path) {
            Ok(text) => text,
            Err(e) => {
                return Attempt::Fail(Mismatch::new(format!("{relative} readable"), format!("cannot read it: {e}")))
            }
        };
        match judge(&text, &self.expect) {
            Ok(()) => Attempt::Pass,
            Err(mismatches) => Attempt::Fail(Mismatch::join(
                mismatches.into_iter().map(|(expected, actual)| Mismatch::new(expected, actual)).collect(),
            )),
        }
    }
}

impl Kind for DockerfileCheck {
    fn name(&self) -> &'static str {
        "dockerfile"
    }

    fn needs(&self) -> Needs {
        Needs::FILES
    }

    fn strings(&self) -> Vec<&str> {
        vec![self.path.as_str()]
    }

    fn validate(&self) -> Result<(), String> {
        let path = Path::new(&self.path);
        if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!(
                "dockerfile path '{}' must be relative to the submission and stay inside it",
                self.path
            ));
        }
        let e = &self.expect;
        if !(e.pinned_base || e.non_root || e.no_secrets || e.healthcheck || !e.exposes.is_empty()) {
            return Err("expect gives no rule (pinned_base, non_root, no_secrets, exposes, healthcheck)".into());
        }
        Ok(())
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, _deadline: Instant, _interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(async move { self.attempt_at(ctx) })
    }
}

fn read_prefix(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_READ).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The line of a character offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.char_indices().take_while(|(i, _)| *i < offset).filter(|(_, c)| *c == '\n').count() + 1
}

/// The instructions of the image the Dockerfile ends in: the last stage's, after those of the
/// stages it is built from inside the file (oldest first).
fn final_image(dockerfile: &Dockerfile) -> Vec<&Instruction> {
    let stages: Vec<_> = dockerfile.iter_stages().collect();
    let mut chain = Vec::new();
    let mut current = stages.len().checked_sub(1);
    while let Some(index) = current {
        let stage = &stages[index];
        chain.push(index);
        current = match stage.parent {
            StageParent::Stage(parent) if parent < index && !chain.contains(&parent) => Some(parent),
            _ => None,
        };
    }
    chain.iter().rev().flat_map(|i| stages[*i].instructions.iter().copied()).collect()
}

/// `(instruction name in capitals, its arguments)` for the instructions the parser leaves generic.
fn misc(instruction: &Instruction) -> Option<(String, String)> {
    match instruction {
        Instruction::Misc(m) => Some((m.instruction.content.to_ascii_uppercase(), m.arguments.to_string())),
        _ => None,
    }
}

fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let parts: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    if matches!(parts.last(), Some(&"FILE") | Some(&"PATH")) {
        return false;
    }
    let whole = |p: &str| matches!(p, "PASS" | "PWD" | "PASSWD" | "CREDENTIAL" | "CREDENTIALS" | "APIKEY");
    let inside = |p: &str| p.contains("PASSWORD") || p.contains("SECRET") || p.contains("TOKEN");
    let key_of = parts.windows(2).any(|w| matches!(w, ["API" | "PRIVATE" | "ACCESS", "KEY"]));
    parts.iter().any(|p| whole(p) || inside(p)) || key_of
}

/// Judges `text` by `expect`; the mismatches as (expected, actual).
pub fn judge(text: &str, expect: &DockerfileExpect) -> Result<(), Vec<(String, String)>> {
    let dockerfile = match Dockerfile::parse(text) {
        Ok(dockerfile) => dockerfile,
        Err(e) => {
            let message = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            return Err(vec![("a Dockerfile docker can read".into(), format!("it does not parse: {message}"))]);
        }
    };
    if dockerfile.iter_stages().next().is_none() {
        return Err(vec![("a Dockerfile with a FROM".into(), "it has no FROM instruction".into())]);
    }
    let mut mismatches = Vec::new();
    let image = final_image(&dockerfile);
    if expect.pinned_base {
        let mut unpinned = Vec::new();
        for stage in dockerfile.iter_stages() {
            let StageParent::Image(image) = stage.parent else { continue };
            let from = dockerfile.instructions.iter().filter_map(Instruction::as_from).nth(stage.index);
            let line = from.map_or(0, |f| line_of(text, f.span.start));
            let written = from.map_or_else(|| image.to_string(), |f| f.image.content.clone());
            match image.resolve_vars(&dockerfile) {
                None => unpinned.push(format!("line {line}: FROM {written} uses a variable with no default")),
                Some(resolved) if resolved.hash.is_some() => {}
                Some(resolved) => match resolved.tag.as_deref() {
                    None => unpinned.push(format!("line {line}: FROM {written} names no tag, which means :latest")),
                    Some("latest") => unpinned.push(format!("line {line}: FROM {written} is whatever is newest")),
                    Some(_) => {}
                },
            }
        }
        if !unpinned.is_empty() {
            mismatches.push(("every FROM pinned to a version (a tag other than latest)".into(), unpinned.join("; ")));
        }
    }
    if expect.non_root {
        let last_user = image.iter().filter_map(|i| misc(i)).rfind(|(name, _)| name == "USER");
        match last_user {
            None => mismatches.push((
                "a USER other than root".into(),
                "no USER instruction: the app runs as root in the container".into(),
            )),
            Some((_, user)) => {
                let who = user.trim().split(':').next().unwrap_or_default().trim().to_string();
                if who.is_empty() || who == "root" || who == "0" {
                    mismatches.push(("a USER other than root".into(), format!("USER {}", user.trim())));
                }
            }
        }
    }
    if expect.no_secrets {
        let mut found = Vec::new();
        for instruction in &dockerfile.instructions {
            match instruction {
                Instruction::Env(env) => {
                    for var in env.vars.iter().filter(|v| is_secret_name(&v.key.content)) {
                        found.push(format!("line {}: ENV {}", line_of(text, var.span.start), var.key.content));
                    }
                }
                Instruction::Arg(arg) if is_secret_name(&arg.name.content) => {
                    found.push(format!("line {}: ARG {}", line_of(text, arg.span.start), arg.name.content));
                }
                _ => {}
            }
        }
        if !found.is_empty() {
            mismatches.push((
                "no secret in ENV or ARG (they stay in the image for anyone who pulls it)".into(),
                found.join("; "),
            ));
        }
    }
    if !expect.exposes.is_empty() {
        let exposed: Vec<u16> = image
            .iter()
            .filter_map(|i| misc(i))
            .filter(|(name, _)| name == "EXPOSE")
            .flat_map(|(_, args)| {
                args.split_whitespace()
                    .filter_map(|p| p.split('/').next().and_then(|n| n.parse::<u16>().ok()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let missing: Vec<String> = expect.exposes.iter().filter(|p| !exposed.contains(p)).map(u16::to_string).collect();
        if !missing.is_empty() {
            let actual = if exposed.is_empty() {
                "no EXPOSE instruction".to_string()
            } else {
                format!("EXPOSE {}", exposed.iter().map(u16::to_string).collect::<Vec<_>>().join(" "))
            };
            mismatches.push((format!("EXPOSE {}", missing.join(" ")), actual));
        }
    }
    if expect.healthcheck {
        let last = image.iter().filter_map(|i| misc(i)).rfind(|(name, _)| name == "HEALTHCHECK");
        match last {
            None => mismatches.push((
                "a HEALTHCHECK".into(),
                "no HEALTHCHECK instruction: docker cannot tell a hung app from a working one".into(),
            )),
            Some((_, args)) if args.trim().eq_ignore_ascii_case("none") => {
                mismatches.push(("a HEALTHCHECK".into(), "HEALTHCHECK NONE".into()))
            }
            Some((_, args)) if healthcheck_command(&args).is_some_and(|c| cannot_fail(&c)) => mismatches.push((
                "a HEALTHCHECK that can fail".into(),
                format!("HEALTHCHECK {}: its test always succeeds, so it checks nothing", args.trim()),
            )),
            Some(_) => {}
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(mismatches)
    }
}

/// What an image built from `text` runs, as image families (see [`crate::check::family`]), for
/// finding a built service's role: the image its last stage starts from (through the file's own
/// stages), the program its last `ENTRYPOINT` and `CMD` start, and the packages its `RUN` lines
/// install - `FROM debian:bookworm` with `apt-get install caddy` and `CMD ["caddy", ...]` runs
/// Caddy. Empty when the file does not parse.
pub fn runs(text: &str) -> Vec<String> {
    let Ok(dockerfile) = Dockerfile::parse(text) else { return Vec::new() };
    let Some(last) = dockerfile.iter_stages().last() else { return Vec::new() };
    let mut families = Vec::new();
    let mut add = |family: String| {
        if !family.is_empty() && !families.contains(&family) {
            families.push(family);
        }
    };
    if let StageParent::Image(image) = last.root {
        let resolved = image.resolve_vars(&dockerfile).map_or_else(|| image.to_string(), |r| r.to_string());
        add(crate::check::family(&resolved));
    }
    let image = final_image(&dockerfile);
    let program = |expr: &ShellOrExecExpr| -> Option<String> {
        let words: Vec<String> = match expr {
            ShellOrExecExpr::Exec(array) => array.as_str_vec().iter().map(|w| w.to_string()).collect(),
            ShellOrExecExpr::Shell(shell) => shell.to_string().split_whitespace().map(str::to_string).collect(),
        };
        program_family(&words)
    };
    for wanted in [0, 1] {
        let found = image.iter().rev().find_map(|instruction| match (wanted, instruction) {
            (0, Instruction::Entrypoint(e)) => Some(&e.expr),
            (1, Instruction::Cmd(c)) => Some(&c.expr),
            _ => None,
        });
        if let Some(name) = found.and_then(program) {
            add(name);
        }
    }
    for instruction in &image {
        let Instruction::Run(run) = instruction else { continue };
        let text = match &run.expr {
            ShellOrExecExpr::Exec(array) => array.as_str_vec().join(" "),
            ShellOrExecExpr::Shell(shell) => shell.to_string(),
        };
        for package in installed_packages(&text) {
            add(package);
        }
    }
    families
}

/// The family of the program a command starts (an `ENTRYPOINT` or `CMD`, exec form or shell
/// words): `sh -c "caddy run"`, `exec caddy`, `tini -- /usr/bin/caddy` start `caddy`; a server's
/// program is named after it (`mariadbd`, `mysqld`, `redis-server`).
pub(crate) fn program_family(words: &[String]) -> Option<String> {
    let skip = ["sh", "bash", "-c", "exec", "tini", "dumb-init", "--", "env"];
    let first = words
        .iter()
        .flat_map(|w| w.trim_matches(['"', '\'']).split_whitespace())
        .find(|w| !skip.contains(&w.rsplit('/').next().unwrap_or(w)))?;
    let name = first.rsplit('/').next()?.to_ascii_lowercase();
    Some(match name.as_str() {
        "mariadbd" | "mysqld" => name.trim_end_matches('d').to_string(),
        _ => name.strip_suffix("-server").unwrap_or(&name).to_string(),
    })
}

/// The packages a shell command installs with apt, apk, dnf or yum (`apt-get install -y
/// --no-install-recommends caddy ca-certificates` -> caddy, ca-certificates), versions cut off.
pub(crate) fn installed_packages(command: &str) -> Vec<String> {
    let mut packages = Vec::new();
    for part in command.split(['&', ';', '|', '\n']) {
        let words: Vec<&str> = part.split_whitespace().filter(|w| *w != "\\").collect();
        // The tool, then its verb after any options (`apt-get -y install caddy`).
        let Some(tool) = words.iter().position(|w| {
            matches!(w.rsplit('/').next().unwrap_or(w), "apt-get" | "apt" | "dnf" | "yum" | "microdnf" | "apk")
        }) else {
            continue;
        };
        let verb = if words[tool].ends_with("apk") { "add" } else { "install" };
        if let Some(at) = words[tool + 1..].iter().position(|w| *w == verb) {
            packages.extend(package_words(&words[tool + 1 + at + 1..]));
        }
    }
    packages
}

fn package_words(words: &[&str]) -> Vec<String> {
    words
        .iter()
        // A comment ends the command (BuildKit's history ends each step with `# buildkit`).
        .take_while(|w| !w.starts_with('#'))
        .filter(|w| !w.starts_with('-') && !w.starts_with('$'))
        .map(|w| w.split(['=', ':']).next().unwrap_or(w).trim_matches(['"', '\'']).to_ascii_lowercase())
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c)))
        // The server of a database or cache is packaged as `<name>-server`.
        .map(|w| w.strip_suffix("-server").map_or(w.clone(), str::to_string))
        .collect()
}

/// The command of a `HEALTHCHECK [OPTIONS] CMD command` (exec form as words joined by spaces).
fn healthcheck_command(args: &str) -> Option<String> {
    let mut rest = args.trim();
    while let Some(option) = rest.strip_prefix("--") {
        rest = option.split_once(char::is_whitespace).map(|(_, r)| r.trim_start()).unwrap_or("");
    }
    let command = rest.get(..3).filter(|c| c.eq_ignore_ascii_case("cmd")).map(|_| rest[3..].trim())?;
    match serde_json::from_str::<Vec<String>>(command) {
        Ok(words) => Some(words.join(" ")),
        Err(_) => Some(command.to_string()),
    }
}

/// Whether a healthcheck's command (as a shell would read it) always exits 0 - `true`, `:`,
/// `exit 0`, `echo ...`, alone or joined by `;` and `&&`, or after a final `||` - and so checks
/// nothing. Compose's and the Dockerfile's healthchecks are judged by it alike.
pub(crate) fn cannot_fail(command: &str) -> bool {
    let always_succeeds = |part: &str| {
        let words: Vec<&str> = part.split_whitespace().collect();
        match words.as_slice() {
            [] => true,
            ["true" | "/bin/true" | "/usr/bin/true" | ":"] => true,
            ["exit"] | ["exit", "0"] => true,
            [first, ..] => matches!(*first, "echo" | "/bin/echo" | "printf" | "sleep"),
        }
    };
    // `a || b` succeeds when b always does; `a; b` and `a && b` only when every part does.
    command.split("||").last().is_some_and(|last| last.split([';', '&']).all(always_succeeds))
        || command.split([';', '&']).all(always_succeeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> DockerfileExpect {
        DockerfileExpect { pinned_base: true, non_root: true, no_secrets: true, exposes: vec![5000], healthcheck: true }
    }

    fn faults(text: &str) -> Vec<String> {
        match judge(text, &rules()) {
            Ok(()) => Vec::new(),
            Err(m) => m.into_iter().map(|(e, a)| format!("{e} | {a}")).collect(),
        }
    }

    const GOOD: &str = "FROM debian:bookworm-slim\nRUN useradd --system app\nCOPY app/portfolio /usr/local/bin/portfolio\nUSER app\nENV PORT=5000 MYSQL_HOST=db\nEXPOSE 5000/tcp\nHEALTHCHECK --interval=5s CMD [\"portfolio\", \"--healthcheck\"]\nCMD [\"portfolio\"]\n";

    #[test]
    fn what_a_built_image_runs() {
        let caddy = "FROM debian:bookworm\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends caddy ca-certificates \\\n && rm -rf /var/lib/apt/lists/*\nCOPY Caddyfile /etc/caddy/Caddyfile\nCMD [\"caddy\", \"run\", \"--config\", \"/etc/caddy/Caddyfile\"]\n";
        assert_eq!(runs(caddy), ["debian", "caddy", "ca-certificates"]);
        // The official image extended: its family first, then the program.
        assert_eq!(runs("FROM nginx:1.27 AS base\nFROM base\nCOPY site.conf /etc/nginx/conf.d/\n"), ["nginx"]);
        assert_eq!(runs("ARG V=7.0\nFROM redis:${V}\nCMD redis-server --save 60 1\n"), ["redis"]);
        assert_eq!(runs("FROM alpine:3.19\nRUN apk add --no-cache haproxy\nENTRYPOINT [\"/sbin/tini\", \"--\", \"/usr/sbin/haproxy\"]\n"), ["alpine", "haproxy"]);
        assert_eq!(
            runs("FROM debian:bookworm\nRUN apt-get -y install mariadb-server\nCMD [\"mariadbd\"]\n"),
            ["debian", "mariadb"]
        );
        // A client is not the server: WordPress with the mysql client is still only WordPress.
        assert_eq!(
            runs("FROM wordpress:6.1-apache\nRUN apt-get install -y mariadb-client\n"),
            ["wordpress", "mariadb-client"]
        );
        assert!(runs("this is not a Dockerfile").is_empty());
    }

    #[test]
    fn good_dockerfiles_pass_in_their_many_forms() {
        assert_eq!(faults(GOOD), Vec::<String>::new());
        // A multi-stage build: USER and HEALTHCHECK come from the stage it builds on; a digest pins;
        // ARG defaults fill FROM; lower-case instructions and continuation lines.
        let staged = "ARG BASE=debian:12-slim\nFROM ${BASE} AS base\nuser 10001:10001\nhealthcheck CMD \\\n  [\"/app\", \"--healthcheck\"]\nFROM base\nCOPY portfolio /app\nEXPOSE 5000 9000\nENV MARIADB_PASSWORD_FILE=/run/secrets/db\n";
        assert_eq!(faults(staged), Vec::<String>::new());
        let digest = GOOD.replace(
            "debian:bookworm-slim",
            "debian@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        );
        assert_eq!(faults(&digest), Vec::<String>::new());
        let scratch = "FROM scratch\nCOPY portfolio /portfolio\nUSER 65534\nEXPOSE 5000\nHEALTHCHECK CMD [\"/portfolio\", \"--healthcheck\"]\n";
        assert_eq!(faults(scratch), Vec::<String>::new());
    }

    #[test]
    fn each_fault_fails_its_rule_and_says_where() {
        assert_eq!(
            faults(&GOOD.replace("debian:bookworm-slim", "debian")),
            ["every FROM pinned to a version (a tag other than latest) | line 1: FROM debian names no tag, which means :latest"]
        );
        assert_eq!(
            faults(&GOOD.replace("debian:bookworm-slim", "debian:latest")),
            ["every FROM pinned to a version (a tag other than latest) | line 1: FROM debian:latest is whatever is newest"]
        );
        assert_eq!(
            faults(&GOOD.replace("USER app\n", "")),
            ["a USER other than root | no USER instruction: the app runs as root in the container"]
        );
        assert_eq!(faults(&GOOD.replace("USER app", "USER root:root")), ["a USER other than root | USER root:root"]);
        assert_eq!(faults(&format!("{GOOD}USER 0\n")), ["a USER other than root | USER 0"]);
        assert_eq!(
            faults(&GOOD.replace("MYSQL_HOST=db", "MYSQL_PASSWORD=hunter2")),
            ["no secret in ENV or ARG (they stay in the image for anyone who pulls it) | line 5: ENV MYSQL_PASSWORD"]
        );
        assert_eq!(
            faults(&format!("ARG DB_ROOT_PASSWORD\n{GOOD}ARG API_TOKEN=x\n")),
            ["no secret in ENV or ARG (they stay in the image for anyone who pulls it) | line 1: ARG DB_ROOT_PASSWORD; line 10: ARG API_TOKEN"]
        );
        assert_eq!(faults(&GOOD.replace("EXPOSE 5000/tcp", "EXPOSE 8080")), ["EXPOSE 5000 | EXPOSE 8080"]);
        assert_eq!(faults(&GOOD.replace("EXPOSE 5000/tcp\n", "")), ["EXPOSE 5000 | no EXPOSE instruction"]);
        let no_health = GOOD.lines().filter(|l| !l.starts_with("HEALTHCHECK")).collect::<Vec<_>>().join("\n");
        assert_eq!(
            faults(&no_health),
            ["a HEALTHCHECK | no HEALTHCHECK instruction: docker cannot tell a hung app from a working one"]
        );
        assert_eq!(faults(&format!("{GOOD}HEALTHCHECK NONE\n")), ["a HEALTHCHECK | HEALTHCHECK NONE"]);
        // A healthcheck that cannot fail checks nothing; one that runs a probe, whatever its form, counts.
        for vacuous in [
            "HEALTHCHECK CMD true",
            "HEALTHCHECK --interval=5s CMD [\"true\"]",
            "HEALTHCHECK CMD exit 0",
            "HEALTHCHECK --retries=3 CMD curl -f http://localhost:5000/ || exit 0",
        ] {
            let faults = faults(&format!("{GOOD}{vacuous}\n"));
            assert_eq!(faults.len(), 1, "{vacuous}: {faults:?}");
            assert!(faults[0].starts_with("a HEALTHCHECK that can fail | "), "{faults:?}");
        }
        for probe in [
            "HEALTHCHECK CMD curl -f http://localhost:5000/ || exit 1",
            "HEALTHCHECK --interval=5s --timeout=3s CMD [\"/portfolio\", \"--healthcheck\"]",
        ] {
            assert!(faults(&format!("{GOOD}{probe}\n")).is_empty(), "{probe}");
        }
        // The last stage is what runs: a USER in a build stage it does not build on does not count.
        let builder = "FROM debian:12 AS build\nUSER app\nHEALTHCHECK CMD true\nFROM debian:12-slim\nEXPOSE 5000\n";
        assert_eq!(faults(builder).len(), 2, "{:?}", faults(builder));
        assert_eq!(faults("RUN echo no from\n").len(), 1);
    }

    #[test]
    fn secret_names() {
        for name in [
            "MYSQL_PASSWORD",
            "MARIADB_ROOT_PASSWORD",
            "DB_PASS",
            "SECRET_KEY",
            "GITHUB_TOKEN",
            "API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "db_password",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["MARIADB_PASSWORD_FILE", "PORT", "MYSQL_HOST", "PASSWORD_PATH", "PATH", "COMPASS", "BYPASS_CACHE"]
        {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
