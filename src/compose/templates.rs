//! The tera templates: defaults embedded in the binary, each overridable by a
//! file of the same name in the project's `templates/` directory.

use std::path::{Path, PathBuf};

use tera::Tera;

use super::merge::escape_html;

/// The email layout, rendered to MJML.
pub(crate) const ISSUE_MJML: &str = "issue.mjml";
/// Simple HTML that becomes the plain-text part through html2text.
pub(crate) const ISSUE_TEXT: &str = "issue.text.html";

/// The confirmation email of a sign-up, rendered to MJML.
pub(crate) const CONFIRM_MJML: &str = "confirm.mjml";
/// Its plain-text part, as simple HTML.
pub(crate) const CONFIRM_TEXT: &str = "confirm.text.html";

/// The web archive's index page.
pub(crate) const ARCHIVE_INDEX: &str = "archive.html";

/// Around a value the `bare_url` filter marks: the plain-text part puts it
/// on a line of its own, whole.
pub(crate) const BARE_URL_START: char = '\u{E010}';
pub(crate) const BARE_URL_END: char = '\u{E011}';

/// Every template missive uses, with its built-in default.
pub(crate) const DEFAULTS: &[(&str, &str)] = &[
    (ISSUE_MJML, include_str!("../../templates/issue.mjml")),
    (ISSUE_TEXT, include_str!("../../templates/issue.text.html")),
    (ARCHIVE_INDEX, include_str!("../../templates/archive.html")),
    (CONFIRM_MJML, include_str!("../../templates/confirm.mjml")),
    (
        CONFIRM_TEXT,
        include_str!("../../templates/confirm.text.html"),
    ),
];

/// A template could not be read or compiled, or failed to render.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct TemplateError {
    /// The override file, or `built-in <name>`.
    pub origin: String,
    pub message: String,
}

/// The loaded templates, and which of them were overridden.
pub struct Templates {
    tera: Tera,
    overrides: Vec<PathBuf>,
}

impl Templates {
    /// The defaults, replaced by any same-named file in `dir`.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".mjml", ".html"]);
        tera.set_escape_fn(escape_html);
        tera.register_filter(
            "bare_url",
            |value: &tera::Value, _: &std::collections::HashMap<String, tera::Value>| {
                let url = value.as_str().unwrap_or_default();
                Ok(tera::Value::String(format!(
                    "{BARE_URL_START}{url}{BARE_URL_END}"
                )))
            },
        );
        let mut overrides = Vec::new();
        for (name, default) in DEFAULTS {
            let path = dir.join(name);
            let (text, origin) = match std::fs::read_to_string(&path) {
                Ok(text) => {
                    overrides.push(path.clone());
                    (text, path.display().to_string())
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    ((*default).to_string(), format!("built-in {name}"))
                }
                Err(e) => {
                    return Err(TemplateError {
                        origin: path.display().to_string(),
                        message: format!("cannot read template: {e}"),
                    });
                }
            };
            tera.add_raw_template(name, &text)
                .map_err(|e| TemplateError {
                    origin,
                    message: crate::project::error_chain(&e),
                })?;
        }
        Ok(Templates { tera, overrides })
    }

    /// The override files in use.
    pub fn overrides(&self) -> &[PathBuf] {
        &self.overrides
    }

    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String, TemplateError> {
        self.tera.render(name, context).map_err(|e| TemplateError {
            origin: self.origin(name),
            message: crate::project::error_chain(&e),
        })
    }

    /// The file a template came from, or `built-in <name>`.
    pub fn origin(&self, name: &str) -> String {
        self.overrides
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == name))
            .map_or_else(|| format!("built-in {name}"), |p| p.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compile() {
        let dir = tempfile::tempdir().unwrap();
        let t = Templates::load(dir.path()).unwrap();
        assert!(t.overrides().is_empty());
    }

    #[test]
    fn a_file_overrides_the_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ISSUE_TEXT), "<p>{{ subject }}</p>").unwrap();
        let t = Templates::load(dir.path()).unwrap();
        assert_eq!(t.overrides(), &[dir.path().join(ISSUE_TEXT)]);
        let mut ctx = tera::Context::new();
        ctx.insert("subject", "a < b");
        assert_eq!(t.render(ISSUE_TEXT, &ctx).unwrap(), "<p>a &lt; b</p>");
    }

    #[test]
    fn a_broken_override_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ISSUE_MJML), "<mjml>{% if %}</mjml>").unwrap();
        let e = Templates::load(dir.path()).err().unwrap();
        assert_eq!(e.origin, dir.path().join(ISSUE_MJML).display().to_string());
        assert!(e.to_string().contains("1:"), "{e}");
    }

    #[test]
    fn mjml_is_autoescaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ISSUE_MJML), "<mj-text>{{ t }}</mj-text>").unwrap();
        let t = Templates::load(dir.path()).unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("t", "<b>&'\"/");
        assert_eq!(
            t.render(ISSUE_MJML, &ctx).unwrap(),
            "<mj-text>&lt;b&gt;&amp;&#39;&quot;/</mj-text>"
        );
    }
}
