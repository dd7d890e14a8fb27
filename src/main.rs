use anyhow::Context;
use clap::Parser;
use saluran::cli::{Cli, Command, TokenCommand};
use saluran::config::Settings;
use saluran::{app, auth, demo, store, telemetry};
use saluran_domain::property::{Role, TokenScope};
use saluran_domain::{PropertyCode, TenantCode};
use std::path::Path;

fn settings(config: Option<&Path>, database_url: Option<String>) -> anyhow::Result<Settings> {
    let mut s = Settings::load(config).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    if let Some(url) = database_url {
        s.database_url = url;
    }
    Ok(s)
}

fn store_options(s: &Settings) -> store::StoreOptions {
    store::StoreOptions { sqlite_synchronous_full: s.sqlite_synchronous_full, max_connections: s.max_db_connections }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen, database_url } => {
            let mut s = settings(config.as_deref(), database_url)?;
            if let Some(l) = listen {
                s.listen = l;
            }
            telemetry::init_logging(&s.log_format);
            let st = store::connect(&s.database_url, &store_options(&s)).await.context("opening the database")?;
            let listener = tokio::net::TcpListener::bind(&s.listen).await.with_context(|| format!("binding {}", s.listen))?;
            s.check_pusher_secret(listener.local_addr()?).map_err(|e| anyhow::anyhow!(e))?;
            let app = app::App::build(s, st).await?;
            app.serve(listener, app::shutdown_signal()).await
        }
        Command::Migrate { config, database_url } => {
            let s = settings(config.as_deref(), database_url)?;
            telemetry::init_logging(&s.log_format);
            store::migrate(&s.database_url).await.context("migrating")?;
            println!("migrated {}", saluran::config::redact_url(&s.database_url));
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { role, tenant, properties, config, database_url } } => {
            let s = settings(config.as_deref(), database_url)?;
            telemetry::init_logging(&s.log_format);
            let scope = TokenScope {
                role: Role::parse(&role)?,
                tenant: TenantCode::parse(tenant)?,
                properties: properties.into_iter().map(PropertyCode::parse).collect::<Result<_, _>>()?,
            };
            let st = store::connect(&s.database_url, &store_options(&s)).await.context("opening the database")?;
            let token = auth::create_token(st.as_ref(), &scope).await?;
            println!("created a {} token for tenant {}", scope.role.as_str(), scope.tenant);
            println!("{token}");
            Ok(())
        }
        Command::Openapi => {
            // The same text as docs/openapi.json (a test compares them).
            println!("{}", serde_json::to_string_pretty(&saluran::http::openapi::document())?);
            Ok(())
        }
        Command::Demo { listen, database_url } => {
            let mut s = settings(None, Some(database_url))?;
            s.listen = listen;
            telemetry::init_logging(&s.log_format);
            demo::run(s).await
        }
    }
}
