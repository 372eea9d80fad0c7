//! `cargo xtask`: compiles the grader (`xtask`) and runs it with the same arguments - and, when
//! that compile takes a while (a first run, a pulled change), starts what the command will need
//! from the machine at the same time: the engine installed and started, the Debian base and the
//! stand-ins made (see `provision::prefetch`), in a process of its own whose log is
//! `target/clabs/prefetch.log`. The grader then finds them made, or waits for what is still being
//! made.
//!
//! This program compiles in seconds (it needs none of the grader's heavy crates), so on a fresh
//! machine the engine and the images are under way before the grader is half compiled.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The hidden first argument that makes this program the prefetch itself.
const PREFETCH: &str = "--containerlabs-prefetch";
/// How long cargo may take before the compile counts as a real one (a no-op build of the
/// grader takes a fraction of this).
const A_REAL_COMPILE: Duration = Duration::from_millis(1500);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let root = provision::workspace_root();
    if args.first().is_some_and(|a| a == PREFETCH) {
        return prefetch(&root, &args[1..]);
    }
    // The grader sits beside this program, in the same profile's folder.
    let grader = match std::env::current_exe() {
        Ok(me) => me.with_file_name("xtask"),
        Err(why) => {
            eprintln!("error: cannot find this program's folder ({why})");
            return ExitCode::from(2);
        }
    };
    if !provision::binary_is_fresh(&grader, &root) {
        if let Some(code) = compile(&root, &args) {
            return code;
        }
    }
    let why = Command::new(&grader).args(&args).exec();
    eprintln!("error: cannot run {} ({why})", grader.display());
    ExitCode::from(2)
}

/// Has cargo compile the grader; when that takes a while, starts the prefetch for `args` beside
/// it. The exit code to end with when the compile failed.
fn compile(root: &std::path::Path, args: &[OsString]) -> Option<ExitCode> {
    let began = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = match Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--package", "xtask", "--bin", "xtask"])
        .spawn()
    {
        Ok(child) => child,
        Err(why) => {
            eprintln!("error: cannot run cargo ({why})");
            return Some(ExitCode::from(2));
        }
    };
    let mut announced = false;
    let mut prefetching = None;
    let status = loop {
        match build.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(why) => {
                eprintln!("error: cannot wait for cargo ({why})");
                return Some(ExitCode::from(2));
            }
        }
        if !announced && began.elapsed() >= A_REAL_COMPILE {
            announced = true;
            eprintln!("compiling the grader (xtask; from nothing, about 80 s on two cores) ...");
            prefetching = start_prefetch(root, args);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        if let Some(log) = prefetching {
            eprintln!("(the engine and the images go on being made for the next run; log: {})", log.display());
        }
        eprintln!("error: compiling the grader failed (cargo's messages are above)");
        return Some(ExitCode::from(2));
    }
    if announced {
        eprintln!("compiling the grader: {:.1} s", began.elapsed().as_secs_f64());
    }
    None
}

/// Starts the prefetch for `args` in the background when the command will need something made;
/// says so in one line. Its log, when it started.
fn start_prefetch(root: &std::path::Path, args: &[OsString]) -> Option<std::path::PathBuf> {
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let curriculum = std::fs::read_to_string(root.join("labs/labs.toml")).ok()?;
    let images_env = std::env::var("CLABS_IMAGES").ok();
    let plan = provision::prefetch::plan(&words, &curriculum, images_env.as_deref())?;
    let log = provision::prefetch_log(root);
    let me = std::env::current_exe().ok()?;
    let _ = std::fs::create_dir_all(provision::state_dir(root));
    let file = std::fs::File::create(&log).ok()?;
    let errors = file.try_clone().ok()?;
    // Its own process, in this one's process group: Ctrl-C ends it with the rest.
    let started = Command::new(me).arg(PREFETCH).args(args).stdin(Stdio::null()).stdout(file).stderr(errors).spawn();
    started.ok()?;
    let what = match plan.images.len() {
        0 => "the engine".to_string(),
        n => format!("the engine and the {n} images the command needs"),
    };
    // Beside the images' builds the two share the cores: 137-156 s against 74-79 s alone.
    let slower = if plan.images.is_empty() { "" } else { "; the compile takes about twice as long beside them" };
    eprintln!("meanwhile, making sure of {what} (log: {}){slower}", log.display());
    Some(log)
}

/// The prefetch itself: makes what the plan for `args` names, its log on standard output.
fn prefetch(root: &std::path::Path, args: &[OsString]) -> ExitCode {
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let curriculum = std::fs::read_to_string(root.join("labs/labs.toml")).unwrap_or_default();
    let images_env = std::env::var("CLABS_IMAGES").ok();
    let Some(plan) = provision::prefetch::plan(&words, &curriculum, images_env.as_deref()) else {
        return ExitCode::SUCCESS;
    };
    let out = std::sync::Mutex::new(std::io::stdout());
    let log = |line: String| {
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    if provision::prefetch::run(root, &plan, &log, Instant::now()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
