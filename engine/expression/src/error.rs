//! Error type shared by compilation and evaluation.

use thiserror::Error;

/// Everything that can go wrong when compiling or evaluating an expression.
///
/// Compile-time problems (`Syntax`, `UnknownFunction`, `ArgumentCount`, `Type`) are reported by
/// [`crate::Expression::compile`] / [`crate::validate`], so property validators can reject a value
/// before any flowfile is processed. `Eval` is raised per evaluation (e.g. an invalid regex
/// produced by an attribute, a malformed date) and should route the flowfile to failure.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum ElError {
    /// The text is not well-formed EL. `position` is the 1-based character column in the
    /// property value; `message` is the full human-readable text, e.g.
    /// `expected ')' at column 17 in '${a:toUpper(}'`.
    #[error("{message}")]
    Syntax {
        /// 1-based character column where the problem was detected.
        position: usize,
        /// Full description including column and source text.
        message: String,
    },
    /// A function name that does not exist in NiFi's Expression Language.
    #[error("{message}")]
    UnknownFunction {
        /// The unknown function name as written.
        name: String,
        /// 1-based character column of the function name.
        position: usize,
        /// Full description including column and source text.
        message: String,
    },
    /// A known function called with an unsupported number of arguments.
    #[error("{message}")]
    ArgumentCount {
        /// Function name.
        function: String,
        /// Number of arguments given.
        got: usize,
        /// 1-based character column of the function name.
        position: usize,
        /// Full description including column and source text.
        message: String,
    },
    /// A static type error detected at compile time (e.g. a Boolean used as a Number, a
    /// multi-attribute expression without a reducing function).
    #[error("{message}")]
    Type {
        /// 1-based character column where the problem was detected.
        position: usize,
        /// Full description including column and source text.
        message: String,
    },
    /// A failure while evaluating an expression against concrete attribute values.
    #[error("expression evaluation failed: {0}")]
    Eval(String),
}

impl ElError {
    /// Shorthand for an evaluation error.
    pub(crate) fn eval(msg: impl Into<String>) -> Self {
        ElError::Eval(msg.into())
    }

    /// The 1-based column of a compile-time error, if this is one.
    pub fn position(&self) -> Option<usize> {
        match self {
            ElError::Syntax { position, .. }
            | ElError::UnknownFunction { position, .. }
            | ElError::ArgumentCount { position, .. }
            | ElError::Type { position, .. } => Some(*position),
            ElError::Eval(_) => None,
        }
    }

    /// True when the error was detected at compile time (the property value itself is invalid).
    pub fn is_compile_error(&self) -> bool {
        !matches!(self, ElError::Eval(_))
    }
}

/// A compile error whose location is a byte offset into the full source; converted into an
/// [`ElError`] (with a 1-based character column) once the source text is known.
#[derive(Debug, Clone)]
pub(crate) struct CompileError {
    pub offset: usize,
    pub kind: CompileErrorKind,
}

#[derive(Debug, Clone)]
pub(crate) enum CompileErrorKind {
    Syntax(String),
    UnknownFunction(String),
    ArgumentCount { function: String, expected: String, got: usize },
    Type(String),
}

impl CompileError {
    pub fn syntax(offset: usize, msg: impl Into<String>) -> Self {
        CompileError { offset, kind: CompileErrorKind::Syntax(msg.into()) }
    }

    pub fn type_err(offset: usize, msg: impl Into<String>) -> Self {
        CompileError { offset, kind: CompileErrorKind::Type(msg.into()) }
    }

    /// Attach the source text, turning the byte offset into a 1-based char column.
    pub fn into_el_error(self, source: &str) -> ElError {
        let offset = self.offset.min(source.len());
        let mut boundary = offset;
        while !source.is_char_boundary(boundary) {
            boundary -= 1;
        }
        let position = source[..boundary].chars().count() + 1;
        let at = format!("at column {position} in '{source}'");
        match self.kind {
            CompileErrorKind::Syntax(message) => ElError::Syntax { position, message: format!("{message} {at}") },
            CompileErrorKind::UnknownFunction(name) => {
                ElError::UnknownFunction { message: format!("unknown function '{name}' {at}"), name, position }
            }
            CompileErrorKind::ArgumentCount { function, expected, got } => ElError::ArgumentCount {
                message: format!("{function}() {expected} but {got} were given {at}"),
                function,
                got,
                position,
            },
            CompileErrorKind::Type(message) => ElError::Type { position, message: format!("{message} {at}") },
        }
    }
}
