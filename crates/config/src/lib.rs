//! config: placeholder, filled by its issue.
