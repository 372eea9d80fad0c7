//! `stack`: the lab 3 compose stack - up (and wait until healthy), down, status, recreate one
//! service, or cycle the whole stack (down and up, volumes kept). See the lab handout.

use clap::{Parser, Subcommand};
use compose::Stack;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(version, about = "Run the lab 3 compose stack and wait until it is healthy")]
struct Cli {
    /// The compose file, or its folder (then the first of compose.yaml, compose.yml,
    /// docker-compose.yaml, docker-compose.yml there).
    #[arg(long, default_value = "labs/compose")]
    file: PathBuf,
    /// The compose project name (container, network and volume prefix).
    #[arg(long, default_value = "lab3")]
    project: String,
    /// Variables for the file (default: .env beside it).
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// How long `up` waits for every service to be healthy.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and start everything, wait until healthy, print the URLs.
    Up {
        /// When it does not get healthy, leave what started (to look at; `down` removes it)
        /// instead of taking it down.
        #[arg(long)]
        keep: bool,
    },
    /// Stop the containers (they stay, stopped, with their networks and volumes).
    Stop,
    /// Stop and remove the containers and networks (the volumes stay unless --volumes).
    Down {
        #[arg(long)]
        volumes: bool,
    },
    /// Show each service's state, health and published ports.
    Status,
    /// Replace one service's container with a new one (its data stays on its volumes).
    Recreate { service: String },
    /// Take the whole stack down (volumes kept) and bring it up again.
    Cycle,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("stack: {}", message.split_whitespace().collect::<Vec<_>>().join(" "));
    ExitCode::from(2)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let stack = Stack::new(&cli.file, &cli.project, cli.env_file.as_deref())?;
    let timeout = Duration::from_secs(cli.timeout);
    let docker = || {
        bollard::Docker::connect_with_local_defaults()
            .map_err(|e| anyhow::anyhow!("cannot reach a Docker engine ({e}); start dockerd or set DOCKER_HOST"))
    };
    match cli.command {
        Command::Up { keep } => {
            stack.up_keeping(&docker()?, timeout, &[], keep).await?;
            print_status(&docker()?, &stack.project).await
        }
        Command::Stop => stack.run(&["stop"]),
        Command::Down { volumes: true } => compose::destroy(&docker()?, &stack.project).await,
        Command::Down { volumes: false } => stack.run(&["down"]),
        Command::Status => print_status(&docker()?, &stack.project).await,
        Command::Recreate { service } => {
            stack.run(&["up", "--detach", "--no-deps", "--force-recreate", &service])?;
            compose::wait_healthy(&docker()?, &stack.project, timeout).await
        }
        Command::Cycle => {
            stack.run(&["down"])?;
            stack.up(&docker()?, timeout, &[]).await
        }
    }
}

async fn print_status(docker: &bollard::Docker, project: &str) -> anyhow::Result<()> {
    let members = compose::members(docker, project).await?;
    if members.is_empty() {
        println!("project {project}: no containers (run `stack up`)");
        return Ok(());
    }
    for m in members {
        let health = if m.health.is_empty() { String::new() } else { format!(" ({})", m.health) };
        let urls: Vec<String> =
            m.ports.iter().filter_map(|p| p.split_once("->").map(|(host, _)| format!("http://{host}/"))).collect();
        println!("{:<14} {}{}  {}", m.service, m.state, health, urls.join(" "));
    }
    Ok(())
}
