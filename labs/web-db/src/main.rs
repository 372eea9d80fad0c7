//! `web-db`: run the portfolio and its database as two containers. See the lab handout.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use web_db::stack::{self, Role, Stack};

#[derive(Debug, Parser)]
#[command(version, about = "Run the portfolio app and MariaDB as two containers")]
struct Cli {
    /// Prefix of every name (network, volume, containers).
    #[arg(long, default_value = "webdb")]
    project: String,
    /// Host port the web app is published on (127.0.0.1 only).
    #[arg(long, default_value_t = 5000)]
    port: u16,
    #[arg(long, env = "PORTFOLIO_IMAGE", default_value = "containerlabs/portfolio:0.1.0")]
    web_image: String,
    /// The database image: the official one by default (pulled when missing); where no registry
    /// answers, the stand-in `cargo xtask images` builds: containerlabs/mariadb:10.11-standin.
    #[arg(long, env = "MARIADB_IMAGE", default_value = "mariadb:10.11")]
    db_image: String,
    #[arg(long, env = "DB_ROOT_PASSWORD", default_value = "change-me-root")]
    db_root_password: String,
    #[arg(long, env = "DB_PASSWORD", default_value = "change-me")]
    db_password: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create what is missing and start it; wait until the database is healthy and the app answers.
    Up,
    /// Remove the containers and the network (the data volume stays unless --volumes).
    Down {
        #[arg(long)]
        volumes: bool,
    },
    /// Show the containers' states.
    Status,
    /// Replace one container with a new one (the data stays on the volume).
    Recreate {
        #[arg(value_enum)]
        role: Role,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("web-db: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web-db: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let docker = bollard::Docker::connect_with_local_defaults()?;
    docker
        .ping()
        .await
        .map_err(|e| anyhow::anyhow!("no Docker engine answers ({e}); start dockerd or set DOCKER_HOST"))?;
    let stack = Stack {
        project: cli.project,
        web_port: cli.port,
        web_image: cli.web_image,
        db_image: cli.db_image,
        db_root_password: cli.db_root_password,
        db_password: cli.db_password,
    };
    match cli.command {
        Command::Up => {
            stack::up(&docker, &stack).await?;
            println!(
                "up: http://127.0.0.1:{}/timeline (database {} not published)",
                stack.web_port,
                stack.container(Role::Db)
            );
        }
        Command::Down { volumes } => {
            stack::down(&docker, &stack, volumes).await?;
            println!(
                "down{}",
                if volumes { ", data volume removed" } else { "; the data volume stays (down --volumes removes it)" }
            );
        }
        Command::Status => {
            for line in stack::status(&docker, &stack).await {
                println!("{line}");
            }
        }
        Command::Recreate { role } => {
            stack::recreate(&docker, &stack, role).await?;
            println!("{} recreated", stack.container(role));
        }
    }
    Ok(())
}
