//! Folders and files only the server's user can open (0700 and 0600 on
//! Unix): the data folder holds students' records, their documents and the
//! installation's key.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Creates `path` and any missing parent, each created one 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates a new file 0600 (failing when it exists).
pub fn create_new(path: &Path) -> io::Result<File> {
    options().create_new(true).open(path)
}

/// Writes `bytes` to `path`, a file created 0600 when new.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    options().create(true).truncate(true).open(path)?.write_all(bytes)
}

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}
