//! Type-checking compiler from the syntax tree to the evaluation tree, enforcing NiFi's
//! compile-time rules (known functions, argument counts, implicit conversions, reducing
//! functions for multi-attribute expressions).

use std::sync::Arc;

use crate::ast::{Call, Func, Multi, MultiMode, MultiSource, Node, SharedRegex, Sig, SubjectUse, Ty, Want};
use crate::error::{CompileError, CompileErrorKind};
use crate::functions::compile_regex;
use crate::lexer::tokenize;
use crate::parser::{SArg, SCall, SExpr, SSubject, parse_expression};
use crate::template::{extract_ranges, unescape_leading, unescape_trailing};

/// Maximum nesting of string-literal templates and embedded expressions.
const MAX_DEPTH: usize = 48;

/// Compile the text of one `${...}` expression; `base` is its byte offset in the full source.
pub(crate) fn compile_expression_text(text: &str, base: usize, depth: usize) -> Result<(Node, Ty), CompileError> {
    if depth > MAX_DEPTH {
        return Err(CompileError::syntax(base, "expression nested too deeply"));
    }
    let toks = tokenize(text, base)?;
    let e = parse_expression(&toks)?;
    compile_expr(&e, depth)
}

/// Whether a compiled root is a plain attribute reference (NiFi's `AttributeEvaluator`),
/// which changes how `$$` before it is unescaped.
pub(crate) fn is_attribute_ref(node: &Node) -> bool {
    matches!(node, Node::Attr(_) | Node::DynAttr(_))
}

/// Compile a string literal used inside an expression. Literals may embed `${...}`.
fn compile_string_literal(value: &str, pos: usize, depth: usize) -> Result<Node, CompileError> {
    if value.len() < 2 {
        return Ok(Node::Str(value.into()));
    }
    let ranges = extract_ranges(value, false);
    if ranges.is_empty() {
        return Ok(Node::Str(value.into()));
    }
    let mut parts = Vec::new();
    let mut last = 0;
    for &(s, e) in &ranges {
        let (node, _) = compile_expression_text(&value[s..=e], pos, depth + 1)?;
        if s > last {
            let mut lit = unescape_leading(&value[last..s]);
            if is_attribute_ref(&node) {
                lit = unescape_trailing(&lit, false);
            }
            parts.push(Node::Str(lit.into()));
        }
        parts.push(node);
        last = e + 1;
    }
    if last < value.len() {
        parts.push(Node::Str(unescape_leading(&value[last..]).into()));
    }
    Ok(Node::Concat(parts.into_boxed_slice()))
}

fn type_error(pos: usize, from: Ty, want: Want, what: &str) -> CompileError {
    CompileError::type_err(
        pos,
        format!("Cannot implicitly convert Data Type {} to {} for {what}", from.name(), want.name()),
    )
}

fn arg_count_error(pos: usize, func: Func, sig: &Sig, got: usize) -> CompileError {
    let expected = if sig.min == sig.max {
        format!("takes {} argument{}", sig.min, if sig.min == 1 { "" } else { "s" })
    } else if sig.max == usize::MAX {
        format!("takes at least {} argument{}", sig.min, if sig.min == 1 { "" } else { "s" })
    } else {
        format!("takes {} to {} arguments", sig.min, sig.max)
    };
    CompileError {
        offset: pos,
        kind: CompileErrorKind::ArgumentCount { function: func.name().to_string(), expected, got },
    }
}

fn lookup(call: &SCall) -> Result<Func, CompileError> {
    Func::lookup(&call.name)
        .ok_or_else(|| CompileError { offset: call.pos, kind: CompileErrorKind::UnknownFunction(call.name.clone()) })
}

fn compile_arg(a: &SArg, depth: usize) -> Result<(Node, Ty), CompileError> {
    Ok(match a {
        SArg::Str { value, pos } => (compile_string_literal(value, *pos, depth)?, Ty::Str),
        SArg::Whole { text, pos } => {
            let v = text
                .strip_prefix('+')
                .unwrap_or(text)
                .parse::<i64>()
                .map_err(|_| CompileError::syntax(*pos, format!("whole number '{text}' is out of range")))?;
            (Node::Whole(v), Ty::Whole)
        }
        SArg::Decimal { text, pos } => {
            let v = text
                .parse::<f64>()
                .map_err(|_| CompileError::syntax(*pos, format!("invalid decimal number '{text}'")))?;
            (Node::Decimal(v), Ty::Decimal)
        }
        SArg::Bool(b) => (Node::Bool(*b), Ty::Bool),
        SArg::Null => (Node::Null, Ty::Str),
        SArg::Expr(e) => compile_expr(e, depth + 1)?,
        SArg::Param { name, .. } => (Node::Param(name.as_str().into()), Ty::Str),
    })
}

fn literal_regex(func: Func, args: &[Node], pos: usize) -> Result<Option<SharedRegex>, CompileError> {
    let anchored = match func {
        Func::Matches => true,
        Func::Find | Func::ReplaceFirst | Func::ReplaceAll => false,
        _ => return Ok(None),
    };
    match args.first() {
        Some(Node::Str(p)) => {
            compile_regex(p, anchored).map(|r| Some(Arc::new(r))).map_err(|m| CompileError::type_err(pos, m))
        }
        _ => Ok(None),
    }
}

/// Build a call node after checking arity and conversions.
fn build_call(
    func: Func,
    sig: Sig,
    subject: Option<(Node, Ty)>,
    call: &SCall,
    depth: usize,
) -> Result<(Node, Ty), CompileError> {
    let n = call.args.len();
    if n < sig.min || n > sig.max {
        return Err(arg_count_error(call.pos, func, &sig, n));
    }
    let subject_ty = match (&subject, sig.subject) {
        (Some((_, ty)), SubjectUse::Required(want)) => {
            if !want.accepts(*ty) {
                return Err(type_error(call.pos, *ty, want, &format!("the subject of {}()", func.name())));
            }
            *ty
        }
        _ => Ty::Str,
    };
    let mut args = Vec::with_capacity(n);
    for (i, a) in call.args.iter().enumerate() {
        let (node, ty) = compile_arg(a, depth)?;
        let want = sig.args.get(i).or(sig.args.last()).copied().unwrap_or(Want::Any);
        if !want.accepts(ty) {
            return Err(type_error(
                if a.pos() > 0 { a.pos() } else { call.pos },
                ty,
                want,
                &format!("argument {} of {}()", i + 1, func.name()),
            ));
        }
        args.push(node);
    }
    if func == Func::Hostname && !matches!(args.first(), None | Some(Node::Bool(_))) {
        return Err(CompileError::type_err(call.pos, "hostname() takes an optional boolean literal"));
    }
    let regex = literal_regex(func, &args, call.pos)?;
    let node = Node::Call(Box::new(Call {
        func,
        subject: subject.map(|(n, _)| n),
        args: args.into_boxed_slice(),
        subject_ty,
        regex,
    }));
    Ok((node, sig.result))
}

/// Apply a chain of `:fn(..)` calls to a subject.
fn apply_chain(mut cur: (Node, Ty), calls: &[SCall], depth: usize) -> Result<(Node, Ty), CompileError> {
    let mut reduced_by: Option<Func> = None;
    for call in calls {
        let func = lookup(call)?;
        if let Some(r) = reduced_by {
            return Err(CompileError::type_err(
                call.pos,
                format!(
                    "Expression attempts to call function '{}' on the result of '{}'. This is not allowed. Instead, use \"${{literal( ${{<embedded expression>}} ):{}(...)}}\"",
                    func.name(),
                    r.name(),
                    func.name()
                ),
            ));
        }
        let Some(sig) = func.subject_sig() else {
            return Err(CompileError::type_err(
                call.pos,
                format!("function '{}' does not take a subject; use ${{{}(...)}}", func.name(), func.name()),
            ));
        };
        cur = build_call(func, sig, Some(cur), call, depth)?;
        if func.is_reducing() {
            reduced_by = Some(func);
        }
    }
    Ok(cur)
}

fn compile_multi(func: Func, call: &SCall, calls: &[SCall], depth: usize) -> Result<(Node, Ty), CompileError> {
    let sig = func.standalone_sig().unwrap_or(Sig {
        subject: SubjectUse::Standalone,
        min: 1,
        max: usize::MAX,
        args: &[Want::Str],
        result: Ty::Str,
    });
    if call.args.len() < sig.min || call.args.len() > sig.max {
        return Err(arg_count_error(call.pos, func, &sig, call.args.len()));
    }
    let source = match func {
        Func::AnyDelineatedValue | Func::AllDelineatedValues => {
            let (v, _) = compile_arg(&call.args[0], depth)?;
            let (d, _) = compile_arg(&call.args[1], depth)?;
            MultiSource::Delineated(v, d)
        }
        _ => {
            let mut lits = Vec::new();
            for a in &call.args {
                match a {
                    SArg::Str { value, .. } => lits.push(value.clone()),
                    other => {
                        return Err(CompileError::type_err(
                            if other.pos() > 0 { other.pos() } else { call.pos },
                            format!("{}() takes string literals only", func.name()),
                        ));
                    }
                }
            }
            if matches!(func, Func::AnyMatchingAttribute | Func::AllMatchingAttributes) {
                let mut res = Vec::new();
                for l in &lits {
                    res.push(Arc::new(compile_regex(l, true).map_err(|m| CompileError::type_err(call.pos, m))?));
                }
                MultiSource::Matching(res.into_boxed_slice())
            } else {
                MultiSource::Names(lits.into_iter().map(|s| s.into_boxed_str()).collect())
            }
        }
    };
    let is_all = matches!(func, Func::AllAttributes | Func::AllMatchingAttributes | Func::AllDelineatedValues);
    let no_reduce = || {
        CompileError::type_err(
            call.pos,
            "Cannot evaluate expression because it attempts to reference multiple attributes but does not use a reducing function",
        )
    };
    let last = calls.last().ok_or_else(no_reduce)?;
    let last_func = lookup(last)?;
    let (chain_calls, mode_call) = if last_func.is_reducing() {
        if !is_all {
            return Err(no_reduce());
        }
        (&calls[..calls.len() - 1], Some((last_func, last)))
    } else {
        (calls, None)
    };
    let (chain, chain_ty) = apply_chain((Node::Current, Ty::Str), chain_calls, depth)?;
    let (mode, ty) = match mode_call {
        Some((Func::Join, c)) => {
            if c.args.len() != 1 {
                return Err(arg_count_error(c.pos, Func::Join, &Func::Join.subject_sig().unwrap_or(sig), c.args.len()));
            }
            let (d, _) = compile_arg(&c.args[0], depth)?;
            (MultiMode::Join(d), Ty::Str)
        }
        Some((_, c)) => {
            if !c.args.is_empty() {
                return Err(arg_count_error(
                    c.pos,
                    Func::Count,
                    &Func::Count.subject_sig().unwrap_or(sig),
                    c.args.len(),
                ));
            }
            (MultiMode::Count, Ty::Whole)
        }
        None => {
            if chain_ty != Ty::Bool {
                return Err(no_reduce());
            }
            (if is_all { MultiMode::All } else { MultiMode::Any }, Ty::Bool)
        }
    };
    Ok((Node::Multi(Box::new(Multi { source, chain, mode })), ty))
}

/// Compile a parsed `${...}`.
pub(crate) fn compile_expr(e: &SExpr, depth: usize) -> Result<(Node, Ty), CompileError> {
    if depth > MAX_DEPTH {
        return Err(CompileError::syntax(e.pos, "expression nested too deeply"));
    }
    let subject = match &e.subject {
        SSubject::Attr { name, quoted, pos } => {
            if *quoted {
                match compile_string_literal(name, *pos, depth)? {
                    Node::Str(s) => (Node::Attr(s), Ty::Str),
                    other => (Node::DynAttr(Box::new(other)), Ty::Str),
                }
            } else {
                (Node::Attr(name.as_str().into()), Ty::Str)
            }
        }
        SSubject::Nested(inner) => {
            let (n, _) = compile_expr(inner, depth + 1)?;
            (Node::DynAttr(Box::new(n)), Ty::Str)
        }
        SSubject::Param { name } => (Node::Param(name.as_str().into()), Ty::Str),
        SSubject::Func(call) => {
            let func = lookup(call)?;
            if func.is_multi() {
                return compile_multi(func, call, &e.calls, depth);
            }
            let Some(sig) = func.standalone_sig() else {
                return Err(CompileError::type_err(
                    call.pos,
                    format!("function '{}' requires a subject, e.g. ${{attr:{}(...)}}", func.name(), func.name()),
                ));
            };
            build_call(func, sig, None, call, depth)?
        }
    };
    apply_chain(subject, &e.calls, depth)
}
