//! Operator errors: bad scenario files, bad commands, I/O, runaway runs. Each names where.

use std::fmt;

/// An error a user can act on.
#[derive(Debug)]
pub enum Error {
    /// The file does not parse: `file:line:col: message`.
    Syntax {
        file: String,
        line: usize,
        col: usize,
        msg: String,
    },
    /// The file parses but says something impossible (unknown device, bad address...).
    Invalid {
        file: String,
        line: usize,
        col: usize,
        msg: String,
    },
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The run exceeded its event budget.
    Budget(crate::engine::BudgetExhausted),
    /// A command-line value is wrong: `arg` quotes it (`--set "x=1"`), `msg` says why.
    Arg { arg: String, msg: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Syntax {
                file,
                line,
                col,
                msg,
            }
            | Error::Invalid {
                file,
                line,
                col,
                msg,
            } => {
                write!(f, "{file}:{line}:{col}: {msg}")
            }
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            Error::Budget(b) => write!(f, "{b}"),
            Error::Arg { arg, msg } => write!(f, "{arg}: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
