//! `single-image`: `docker run -d -p H:C --name N -e K=V IMAGE`, spelled out. See the lab handout.

use clap::{Parser, Subcommand};
use single_image::{Publish, Pull, RunOptions};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(version, about = "Run one image the way `docker run` does, step by step, through the Engine API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pull (or use) the image, create and start the container, wait until its port answers.
    Run {
        #[command(flatten)]
        run: RunArgs,
        /// Seconds to wait for the first published port to answer.
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Print a container's logs.
    Logs { name: String },
    /// Stop and remove a container.
    Rm { name: String },
    /// The whole exercise: run, wait for the port, show the logs, stop and remove.
    Demo {
        #[command(flatten)]
        run: RunArgs,
    },
}

/// The `docker run` options both `run` and `demo` take.
#[derive(Debug, clap::Args)]
struct RunArgs {
    image: String,
    #[arg(long)]
    name: String,
    /// Publish a port: [IP:]HOST:CONTAINER[/tcp|udp] (repeatable).
    #[arg(short = 'p', long = "publish")]
    publish: Vec<Publish>,
    /// Set an environment variable: KEY=VALUE (repeatable).
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Mount a host folder or file, or a named volume: SOURCE:TARGET[:ro] (repeatable).
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Restart policy: no, always, unless-stopped, on-failure[:N].
    #[arg(long)]
    restart: Option<String>,
    /// Network: a user-defined network's name, or container:NAME to share another container's.
    #[arg(long)]
    network: Option<String>,
    #[arg(long, value_enum, default_value_t = Pull::Missing)]
    pull: Pull,
}

impl RunArgs {
    fn options(self) -> RunOptions {
        RunOptions {
            image: self.image,
            name: self.name,
            publish: self.publish,
            env: self.env,
            binds: self.volume,
            restart: self.restart,
            network: self.network,
            tmpfs: Vec::new(),
            pull: self.pull,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("single-image: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("single-image: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let docker = single_image::connect().await?;
    match cli.command {
        Command::Run { run, wait } => {
            let options = run.options();
            let (name, publish) = (options.name.clone(), options.publish.clone());
            let id = single_image::run(&docker, &options).await?;
            if let Some(first) = publish.first() {
                single_image::wait_for_port(&docker, &id, first.host_port, Duration::from_secs(wait)).await?;
                println!("{name} is running; http://127.0.0.1:{}/ answers", first.host_port);
            } else {
                println!("{name} is running");
            }
        }
        Command::Logs { name } => print!("{}", single_image::logs(&docker, &name).await?),
        Command::Rm { name } => {
            single_image::remove(&docker, &name).await?;
            println!("{name} removed");
        }
        Command::Demo { run } => {
            let options = run.options();
            let (name, publish) = (options.name.clone(), options.publish.clone());
            let id = single_image::run(&docker, &options).await?;
            let waited = match publish.first() {
                Some(first) => {
                    single_image::wait_for_port(&docker, &id, first.host_port, Duration::from_secs(30)).await
                }
                None => Ok(()),
            };
            println!("--- logs of {name} ---");
            print!("{}", single_image::logs(&docker, &id).await.unwrap_or_default());
            single_image::remove(&docker, &id).await?;
            println!("--- {name} stopped and removed ---");
            waited?;
        }
    }
    Ok(())
}
