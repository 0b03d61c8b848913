//! Recursive-descent parser from tokens to a syntax tree (no typing yet).
//!
//! Grammar (NiFi's, slightly simplified):
//! ```text
//! expr    := '$' '{' subject (':' call)* '}'
//! subject := STRING | NAME | NAME '(' args ')' | expr | '#{' (NAME|STRING) '}'
//! call    := NAME '(' args ')'
//! arg     := STRING | WHOLE | DECIMAL | true | false | null | expr | '#{' (NAME|STRING) '}'
//! ```

use crate::error::CompileError;
use crate::lexer::{Tok, Token};

/// A parsed `${...}` expression.
#[derive(Debug, Clone)]
pub(crate) struct SExpr {
    /// Byte offset of the `$`.
    pub pos: usize,
    pub subject: SSubject,
    pub calls: Vec<SCall>,
}

/// The thing the function chain operates on.
#[derive(Debug, Clone)]
pub(crate) enum SSubject {
    /// Attribute name; `quoted` names are string literals that may embed expressions.
    Attr { name: String, quoted: bool, pos: usize },
    /// `${${x}}`: the attribute named by the value of another expression.
    Nested(Box<SExpr>),
    /// `${#{param}}`.
    Param { name: String },
    /// A subjectless function such as `now()`, `literal(..)`, `anyAttribute(..)`.
    Func(SCall),
}

/// A function call `name(args)`.
#[derive(Debug, Clone)]
pub(crate) struct SCall {
    pub name: String,
    pub pos: usize,
    pub args: Vec<SArg>,
}

/// A function argument.
#[derive(Debug, Clone)]
pub(crate) enum SArg {
    Str { value: String, pos: usize },
    Whole { text: String, pos: usize },
    Decimal { text: String, pos: usize },
    Bool(bool),
    Null,
    Expr(SExpr),
    Param { name: String, pos: usize },
}

impl SArg {
    /// Byte offset used for error messages.
    pub fn pos(&self) -> usize {
        match self {
            SArg::Str { pos, .. } | SArg::Whole { pos, .. } | SArg::Decimal { pos, .. } | SArg::Param { pos, .. } => {
                *pos
            }
            SArg::Expr(e) => e.pos,
            SArg::Bool(_) | SArg::Null => 0,
        }
    }
}

/// Nesting limit: protects the recursive parser and evaluator from stack exhaustion.
const MAX_DEPTH: usize = 64;

/// Limit on `:fn()` calls in one expression (each adds a level to the evaluation tree).
const MAX_CHAIN: usize = 256;

struct Parser<'t> {
    toks: &'t [Token],
    i: usize,
    depth: usize,
}

/// Parse a complete expression (`${...}` and nothing else) from tokens.
pub(crate) fn parse_expression(toks: &[Token]) -> Result<SExpr, CompileError> {
    let mut p = Parser { toks, i: 0, depth: 0 };
    let e = p.expr()?;
    let t = p.peek();
    if t.kind != Tok::Eof {
        return Err(CompileError::syntax(t.pos, format!("unexpected {} after end of expression", t.kind.describe())));
    }
    Ok(e)
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek2(&self) -> &'t Token {
        &self.toks[(self.i + 1).min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> &'t Token {
        let t = self.peek();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn expect(&mut self, kind: Tok, what: &str) -> Result<&'t Token, CompileError> {
        let t = self.peek();
        if t.kind == kind {
            Ok(self.next())
        } else {
            Err(CompileError::syntax(t.pos, format!("expected {what} but found {}", t.kind.describe())))
        }
    }

    fn expr(&mut self) -> Result<SExpr, CompileError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CompileError::syntax(self.peek().pos, "expression nested too deeply"));
        }
        let start = self.expect(Tok::Dollar, "'$'")?.pos;
        self.expect(Tok::LBrace, "'{'")?;
        let subject = self.subject()?;
        let mut calls = Vec::new();
        loop {
            let t = self.peek();
            match &t.kind {
                Tok::Colon => {
                    self.next();
                    if calls.len() >= MAX_CHAIN {
                        return Err(CompileError::syntax(t.pos, "too many chained function calls"));
                    }
                    calls.push(self.call()?);
                }
                Tok::RBrace => {
                    self.next();
                    break;
                }
                other => {
                    return Err(CompileError::syntax(
                        t.pos,
                        format!("expected ':' or '}}' but found {}", other.describe()),
                    ));
                }
            }
        }
        self.depth -= 1;
        Ok(SExpr { pos: start, subject, calls })
    }

    fn subject(&mut self) -> Result<SSubject, CompileError> {
        let t = self.peek();
        match &t.kind {
            Tok::Str(s) => {
                self.next();
                Ok(SSubject::Attr { name: s.clone(), quoted: true, pos: t.pos })
            }
            Tok::Ident(name) => {
                if self.peek2().kind == Tok::LParen {
                    Ok(SSubject::Func(self.call()?))
                } else {
                    self.next();
                    Ok(SSubject::Attr { name: name.clone(), quoted: false, pos: t.pos })
                }
            }
            Tok::Dollar => Ok(SSubject::Nested(Box::new(self.expr()?))),
            Tok::ParamStart => {
                let (name, _) = self.param()?;
                Ok(SSubject::Param { name })
            }
            other => Err(CompileError::syntax(
                t.pos,
                format!("expected attribute name, function or expression but found {}", other.describe()),
            )),
        }
    }

    fn param(&mut self) -> Result<(String, usize), CompileError> {
        let start = self.expect(Tok::ParamStart, "'#{'")?.pos;
        let t = self.next();
        let name = match &t.kind {
            Tok::Ident(s) | Tok::Str(s) => s.clone(),
            other => {
                return Err(CompileError::syntax(
                    t.pos,
                    format!("expected parameter name but found {}", other.describe()),
                ));
            }
        };
        self.expect(Tok::RBrace, "'}' closing the parameter reference")?;
        Ok((name, start))
    }

    fn call(&mut self) -> Result<SCall, CompileError> {
        let t = self.next();
        let name = match &t.kind {
            Tok::Ident(s) => s.clone(),
            other => {
                return Err(CompileError::syntax(
                    t.pos,
                    format!("expected function name but found {}", other.describe()),
                ));
            }
        };
        self.expect(Tok::LParen, "'('")?;
        let mut args = Vec::new();
        if self.peek().kind == Tok::RParen {
            self.next();
        } else {
            loop {
                args.push(self.arg()?);
                let t = self.next();
                match t.kind {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    ref other => {
                        return Err(CompileError::syntax(
                            t.pos,
                            format!("expected ',' or ')' but found {}", other.describe()),
                        ));
                    }
                }
            }
        }
        Ok(SCall { name, pos: t.pos, args })
    }

    fn arg(&mut self) -> Result<SArg, CompileError> {
        let t = self.peek();
        let a = match &t.kind {
            Tok::Str(s) => SArg::Str { value: s.clone(), pos: t.pos },
            Tok::Whole(s) => SArg::Whole { text: s.clone(), pos: t.pos },
            Tok::Decimal(s) => SArg::Decimal { text: s.clone(), pos: t.pos },
            Tok::Ident(s) if s == "true" => SArg::Bool(true),
            Tok::Ident(s) if s == "false" => SArg::Bool(false),
            Tok::Ident(s) if s == "null" => SArg::Null,
            Tok::Dollar => return Ok(SArg::Expr(self.expr()?)),
            Tok::ParamStart => {
                let (name, pos) = self.param()?;
                return Ok(SArg::Param { name, pos });
            }
            Tok::Ident(s) if self.peek2().kind == Tok::LParen => {
                return Err(CompileError::syntax(
                    t.pos,
                    format!(
                        "function '{s}' cannot be used as an argument; wrap it in an expression such as ${{literal(..):{s}(..)}}"
                    ),
                ));
            }
            other => {
                return Err(CompileError::syntax(
                    t.pos,
                    format!(
                        "expected an argument (string, number, boolean or expression) but found {}",
                        other.describe()
                    ),
                ));
            }
        };
        self.next();
        Ok(a)
    }
}
