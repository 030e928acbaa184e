//! Diagnostics in HAProxy's form: alerts, warnings, notices collected while
//! loading, then printed as `[ALERT]    (PID) : config : <text>`. Owns the
//! message list and formatting; deciding what to report is the parser's.

/// Severity, as HAProxy labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Alert,
    Warning,
    Notice,
    /// `-dD` diagnostic warnings.
    Diag,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Alert => "[ALERT]",
            Level::Warning => "[WARNING]",
            Level::Notice => "[NOTICE]",
            Level::Diag => "[DIAG]",
        }
    }
}

/// One message; `text` is what follows "config : ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub level: Level,
    pub text: String,
}

impl Diag {
    /// The line as HAProxy prints it (without trailing newline).
    pub fn render(&self, pid: u32) -> String {
        format!(
            "{:<11}({}) : config : {}",
            self.level.label(),
            pid,
            self.text.trim_end_matches('\n')
        )
    }
}

/// Messages plus HAProxy's error-code bits.
#[derive(Debug, Clone, Default)]
pub struct Diags {
    pub list: Vec<Diag>,
    pub fatal: bool,
    pub warned: bool,
    /// `.alert` or too many errors: stop reading.
    pub abort: bool,
}

impl Diags {
    pub fn alert(&mut self, text: impl Into<String>) {
        self.fatal = true;
        self.list.push(Diag {
            level: Level::Alert,
            text: text.into(),
        });
    }
    /// An alert that does not make the configuration invalid (HAProxy
    /// prints some alerts without the fatal bit).
    pub fn alert_nonfatal(&mut self, text: impl Into<String>) {
        self.list.push(Diag {
            level: Level::Alert,
            text: text.into(),
        });
    }
    pub fn warning(&mut self, text: impl Into<String>) {
        self.warned = true;
        self.list.push(Diag {
            level: Level::Warning,
            text: text.into(),
        });
    }
    pub fn notice(&mut self, text: impl Into<String>) {
        self.list.push(Diag {
            level: Level::Notice,
            text: text.into(),
        });
    }
    pub fn diag(&mut self, text: impl Into<String>) {
        self.list.push(Diag {
            level: Level::Diag,
            text: text.into(),
        });
    }
}
