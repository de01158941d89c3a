//! The command-line side of the configuration shared by `serve` and the administration
//! commands (`keys`, `terminals`, `settle`): which file to read and the settings that decide
//! which database is opened and how. Each layer overrides the one before: built-in defaults,
//! the TOML file (`--config` / `POIGATE_CONFIG`), environment variables, flags (clap reads
//! the last two, a flag winning over its variable).

use clap::Args;
use poigate::config::Config;
use poigate_store_sqlite::Synchronous;
use std::path::PathBuf;

#[derive(Args)]
pub struct ConfigArgs {
    /// TOML configuration file (flags and environment override it).
    #[arg(long, env = "POIGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the database [default: ./poigate-data].
    #[arg(long, env = "POIGATE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL for several gateway nodes [default: SQLite in the data directory].
    #[arg(long = "database", env = "POIGATE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// SQLite durability: full (default, survives power loss) or normal.
    #[arg(long, env = "POIGATE_SYNCHRONOUS", value_parser = parse_synchronous)]
    pub synchronous: Option<Synchronous>,
}

fn parse_synchronous(s: &str) -> Result<Synchronous, String> {
    match s {
        "full" => Ok(Synchronous::Full),
        "normal" => Ok(Synchronous::Normal),
        _ => Err("expected full or normal".into()),
    }
}

impl ConfigArgs {
    /// Defaults, then the file, then environment and flags. Not validated here: `serve`
    /// applies its own flags first, and every command validates the finished `Config`.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = &self.data_dir {
            config.data_dir = v.clone();
        }
        if let Some(v) = self.synchronous {
            config.database.synchronous = v;
        }
        if let Some(v) = &self.database_url {
            config.database.url = Some(v.clone());
        }
        Ok(config)
    }
}
