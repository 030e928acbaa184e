//! proxy: placeholder, filled by its issue.
