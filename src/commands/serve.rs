//! `cimon serve`: open the store, set up authentication, listen, serve until a signal.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::ci::Env;
use crate::cli::ServeArgs;
use crate::exit_code;
use crate::server::auth::Auth;
use crate::server::{self, App, ServerConfig};

/// Default store: a SQLite file in the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://cimon.db";

/// Runs the server until interrupted; returns the exit code.
pub fn run(args: ServeArgs, env: &Env) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return exit_code::INFRA;
        }
    };
    match runtime.block_on(serve(args, env)) {
        Ok(()) => exit_code::OK,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("cimon serve: {e:#}");
            exit_code::USAGE
        }
    }
}

fn auth(args: &ServeArgs, env: &Env, addr: &SocketAddr) -> Result<Auth> {
    if args.insecure_no_auth {
        if !addr.ip().is_loopback() {
            bail!("--insecure-no-auth is only allowed on a loopback address, not {addr}");
        }
        tracing::warn!("authentication is OFF (--insecure-no-auth): anyone who can reach {addr} can read and write");
        return Ok(Auth::disabled());
    }
    if let Some(path) = &args.tokens {
        return Ok(Auth::load(path)?);
    }
    if let Some(token) = env.get("CIMON_TOKEN") {
        return Ok(Auth::single(token.trim()));
    }
    if let Some(path) = env.get("CIMON_TOKEN_FILE") {
        let token = std::fs::read_to_string(path)
            .with_context(|| format!("CIMON_TOKEN_FILE: cannot read {path}"))?;
        return Ok(Auth::single(token.trim()));
    }
    bail!("no authentication configured: set CIMON_TOKEN (one token with every scope), pass --tokens FILE, or --insecure-no-auth on a loopback address")
}

async fn serve(args: ServeArgs, env: &Env) -> Result<()> {
    let addr: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {:?}: expected an address such as 127.0.0.1:8080",
            args.listen
        )
    })?;
    let auth = auth(&args, env, &addr)?;
    let metrics_ttl = server::parse_ttl(&args.metrics_ttl).with_context(|| {
        format!(
            "--metrics-ttl {:?}: expected a duration such as 7d, 12h, 30m",
            args.metrics_ttl
        )
    })?;
    let url = args
        .database
        .clone()
        .or_else(|| env.get("CIMON_DATABASE_URL").map(str::to_string))
        .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
    let notify = match super::notify::setup(args.config.as_deref(), env)? {
        Some(setup) => Some(std::sync::Arc::new(setup)),
        None if args.config.is_some() => bail!("--config: the file has no `notify:` section"),
        None => None,
    };
    let store = crate::store::open(&url).await?;
    let config = ServerConfig {
        max_body: args.max_body,
        metrics_ttl,
    };
    let mut app = App::new(store, auth, config).map_err(anyhow::Error::msg)?;
    app.notify = notify;
    let app = Arc::new(app);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    eprintln!(
        "cimon serve: listening on http://{bound} (store {})",
        crate::http::mask_url(&url)
    );
    server::serve(listener, app)
        .await
        .context("the server stopped")?;
    Ok(())
}
