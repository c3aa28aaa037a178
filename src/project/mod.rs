//! The project: `missive.toml` and the folder it sits in, with every path a
//! command needs resolved once (issues, templates, state, the list), the
//! config's schema, the errors that point into TOML sources, and the
//! validated values both the config and the issues are made of.

pub mod config;
pub mod source;
pub mod values;

use std::path::{Path, PathBuf};

pub use config::Config;
pub use source::SourceError;

/// An error with its sources, on one line: `a: b: c` (a source already in
/// the text is not repeated).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The default config file name, looked up in the current directory.
pub const FILE_NAME: &str = "missive.toml";

/// A loaded configuration and the project directory it belongs to (where
/// `templates/` and `.missive/` live).
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// The config file, if one was found.
    pub config_path: Option<PathBuf>,
    pub config: Config,
}

impl Project {
    /// Loads `explicit` if given (it must exist), otherwise `missive.toml` in
    /// the current directory if there is one, otherwise the defaults.
    pub fn open(explicit: Option<&Path>) -> Result<Project, SourceError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(FILE_NAME)).filter(|p| p.is_file()),
        };
        match path {
            Some(path) => {
                let config = Config::load(&path)?;
                let root = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                Ok(Project {
                    root,
                    config_path: Some(path),
                    config,
                })
            }
            None => Ok(Project {
                root: PathBuf::from("."),
                config_path: None,
                config: Config::default(),
            }),
        }
    }

    pub fn templates_dir(&self) -> PathBuf {
        self.root.join("templates")
    }

    /// `issues/`: every issue of the project, for the archive.
    pub fn issues_dir(&self) -> PathBuf {
        self.root.join("issues")
    }

    /// Every issue file (`issues/*.toml`), in name order (names start with
    /// the date, so oldest first).
    pub fn issue_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.issues_dir())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        Ok(files)
    }

    /// `.missive/` beside the config: journals and the list-event log.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".missive")
    }

    /// The subscriber list a command reads: `explicit`, or `sending.subscribers`.
    pub fn list_path(&self, explicit: Option<&Path>) -> PathBuf {
        explicit.map_or_else(
            || self.resolve(&self.config.sending.subscribers),
            Path::to_path_buf,
        )
    }

    /// A path from the config, taken relative to the project directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }

    /// The file config errors are reported against.
    pub fn config_label(&self) -> PathBuf {
        self.config_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{FILE_NAME} (none found; defaults)")))
    }
}
