//! http: placeholder, filled by its issue.
