//! The project configuration, `missive.toml`: who the newsletter is from, its
//! footer and unsubscribe method. Optional: without it, sensible defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::issue::{OneLine, WebUrl};
use crate::source::{self, SourceError};

/// The default config file name, looked up in the current directory.
pub const FILE_NAME: &str = "missive.toml";

/// `missive.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub newsletter: Newsletter,
    #[serde(default)]
    pub unsubscribe: Unsubscribe,
}

/// `[newsletter]`: identity and footer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Newsletter {
    #[serde(default = "default_name")]
    pub name: OneLine,
    /// `"Name <address>"`.
    pub from: Option<OneLine>,
    pub reply_to: Option<OneLine>,
    /// Shown in the footer; bulk mail law in many countries requires it.
    pub postal_address: Option<String>,
    /// Base of the "view in browser" link: `{web_url}/{issue stem}/`.
    pub web_url: Option<WebUrl>,
    pub list_id: Option<OneLine>,
    /// Where `send --test` goes.
    pub test_to: Option<OneLine>,
}

impl Default for Newsletter {
    fn default() -> Self {
        Newsletter {
            name: default_name(),
            from: None,
            reply_to: None,
            postal_address: None,
            web_url: None,
            list_id: None,
            test_to: None,
        }
    }
}

fn default_name() -> OneLine {
    OneLine::new("Newsletter").expect("non-empty")
}

/// `[unsubscribe]`: how a reader leaves the list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unsubscribe {
    /// An http(s) URL; may contain `{email}` and `{token}`.
    pub url: Option<UnsubscribeUrl>,
    /// An address that unsubscribes whoever writes to it.
    pub mailto: Option<OneLine>,
}

/// An unsubscribe URL template: an http(s) URL once `{email}` and `{token}`
/// are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeUrl(String);

impl UnsubscribeUrl {
    pub fn template(&self) -> &str {
        &self.0
    }

    /// Whether the URL carries a signed token, so sending needs the secret.
    pub fn needs_token(&self) -> bool {
        self.0.contains("{token}")
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The URL for one reader; values are percent-encoded.
    pub fn fill(&self, email: &str, token: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        self.0
            .replace("{email}", &enc(email))
            .replace("{token}", &enc(token))
    }
}

impl<'de> Deserialize<'de> for UnsubscribeUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let probe = s
            .replace("{email}", "reader%40example.com")
            .replace("{token}", "0");
        WebUrl::parse(&probe).map_err(serde::de::Error::custom)?;
        Ok(UnsubscribeUrl(s.trim().to_string()))
    }
}

impl Config {
    /// Parses config text; `path` labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, SourceError> {
        source::parse_toml(text, path)
    }

    pub fn load(path: &Path) -> Result<Config, SourceError> {
        Config::parse(&source::read(path)?, path)
    }

    /// The "view in browser" URL of the issue with this stem, if `web_url` is set.
    pub fn web_url_for(&self, stem: &str) -> Option<String> {
        self.newsletter
            .web_url
            .as_ref()
            .map(|base| format!("{}/{stem}/", base.as_str().trim_end_matches('/')))
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, SourceError> {
        Config::parse(text, Path::new("missive.toml"))
    }

    #[test]
    fn empty_config_has_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.newsletter.name.as_str(), "Newsletter");
        assert!(c.unsubscribe.url.is_none());
        assert_eq!(c.web_url_for("x"), None);
    }

    #[test]
    fn web_url_joins_stem() {
        let c = parse("[newsletter]\nweb_url = \"https://news.example.com/archive/\"\n").unwrap();
        assert_eq!(
            c.web_url_for("2026-11-27-x").as_deref(),
            Some("https://news.example.com/archive/2026-11-27-x/")
        );
    }

    #[test]
    fn unsubscribe_url_is_filled_and_encoded() {
        let c =
            parse("[unsubscribe]\nurl = \"https://x.example/u?e={email}&t={token}\"\n").unwrap();
        let u = c.unsubscribe.url.unwrap();
        assert!(u.needs_token());
        assert!(u.is_https());
        assert_eq!(
            u.fill("a+b@example.com", "ab12"),
            "https://x.example/u?e=a%2Bb%40example.com&t=ab12"
        );
    }

    #[test]
    fn bad_unsubscribe_url_names_field() {
        let e = parse("[unsubscribe]\nurl = \"ftp://x/{email}\"\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("unsubscribe.url"));
        assert_eq!(e.line(), Some(2));
    }

    #[test]
    fn unknown_section_key_is_an_error() {
        let e = parse("[newsletter]\nnmae = \"x\"\n").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `name`?"));
    }
}
