//! The widths of the remote images an issue shows, as `check --links`
//! measured them (`.missive/image-widths.json`): the renderer gives each its
//! own width, capped at the column, where Outlook for Windows would
//! otherwise show it at its natural size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

/// Image URL → width in pixels.
pub type Widths = BTreeMap<String, u32>;

/// Where the widths are kept in a project's state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("image-widths.json")
}

/// The widths measured so far (none if the file is missing or unreadable:
/// the renderer then gives remote images the column's width).
pub fn load(state_dir: &Path) -> Widths {
    crate::fsutil::read_cache(&path(state_dir))
}

/// Writes `widths` back, atomically.
pub fn save(state_dir: &Path, widths: &Widths) -> Result<()> {
    crate::fsutil::write_cache(&path(state_dir), widths)
}
