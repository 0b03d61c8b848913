//! Compiled, typed expression tree and the function catalogue (names, arity, types).

use std::sync::Arc;

use fancy_regex::Regex;

/// Static result type of a node, as in NiFi's `ResultType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Bool,
    Whole,
    Decimal,
    Number,
    Date,
    Instant,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Str => "STRING",
            Ty::Bool => "BOOLEAN",
            Ty::Whole => "WHOLE_NUMBER",
            Ty::Decimal => "DECIMAL",
            Ty::Number => "NUMBER",
            Ty::Date => "DATE",
            Ty::Instant => "INSTANT",
        }
    }
}

/// What a function needs its subject/argument converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Any,
    Str,
    Bool,
    Whole,
    Number,
    Date,
    Instant,
}

impl Want {
    /// Whether a value of static type `t` may be implicitly converted (NiFi's compile-time rules).
    pub fn accepts(self, t: Ty) -> bool {
        match self {
            Want::Any | Want::Str => true,
            Want::Bool => matches!(t, Ty::Bool | Ty::Str),
            Want::Whole | Want::Number | Want::Date | Want::Instant => t != Ty::Bool,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Want::Any => "ANY",
            Want::Str => "STRING",
            Want::Bool => "BOOLEAN",
            Want::Whole => "WHOLE_NUMBER",
            Want::Number => "NUMBER",
            Want::Date => "DATE",
            Want::Instant => "INSTANT",
        }
    }
}

macro_rules! funcs {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Every EL function known to the compiler.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($variant),* }

        impl Func {
            /// The canonical (NiFi) spelling.
            pub fn name(self) -> &'static str {
                match self { $(Func::$variant => $name),* }
            }
        }

        /// All functions, for name lookup.
        pub(crate) const ALL_FUNCS: &[Func] = &[$(Func::$variant),*];
    };
}

funcs! {
    // string, 0 args
    ToUpper => "toUpper", ToLower => "toLower", Trim => "trim", ToString => "toString",
    UrlEncode => "urlEncode", UrlDecode => "urlDecode", Base64Encode => "base64Encode",
    Base64Decode => "base64Decode", EscapeJson => "escapeJson", EscapeXml => "escapeXml",
    EscapeCsv => "escapeCsv", EscapeHtml3 => "escapeHtml3", EscapeHtml4 => "escapeHtml4",
    UnescapeJson => "unescapeJson", UnescapeXml => "unescapeXml", UnescapeCsv => "unescapeCsv",
    UnescapeHtml3 => "unescapeHtml3", UnescapeHtml4 => "unescapeHtml4",
    EvaluateElString => "evaluateELString",
    // string, 1+ args
    SubstringBefore => "substringBefore", SubstringBeforeLast => "substringBeforeLast",
    SubstringAfter => "substringAfter", SubstringAfterLast => "substringAfterLast",
    ReplaceNull => "replaceNull", ReplaceEmpty => "replaceEmpty", Prepend => "prepend",
    Append => "append", Substring => "substring", Replace => "replace",
    ReplaceFirst => "replaceFirst", ReplaceAll => "replaceAll", PadLeft => "padLeft",
    PadRight => "padRight", Repeat => "repeat", GetDelimitedField => "getDelimitedField",
    Uuid3 => "UUID3", Uuid5 => "UUID5", Hash => "hash", IfElse => "ifElse",
    Join => "join", Format => "format", FormatInstant => "formatInstant", ToRadix => "toRadix",
    JsonPath => "jsonPath", JsonPathDelete => "jsonPathDelete", JsonPathSet => "jsonPathSet",
    JsonPathAdd => "jsonPathAdd", JsonPathPut => "jsonPathPut",
    // boolean
    IsNull => "isNull", NotNull => "notNull", IsEmpty => "isEmpty", Not => "not",
    IsJson => "isJson", Find => "find", Matches => "matches", Equals => "equals",
    EqualsIgnoreCase => "equalsIgnoreCase", StartsWith => "startsWith", EndsWith => "endsWith",
    Contains => "contains", Gt => "gt", Ge => "ge", Lt => "lt", Le => "le", And => "and",
    Or => "or", In => "in",
    // numbers
    Length => "length", IndexOf => "indexOf", LastIndexOf => "lastIndexOf",
    ToNumber => "toNumber", ToDecimal => "toDecimal", ToMicros => "toMicros",
    ToNanos => "toNanos", Plus => "plus", Minus => "minus", Multiply => "multiply",
    Divide => "divide", Mod => "mod", Math => "math", FromRadix => "fromRadix", Count => "count",
    // dates
    ToDate => "toDate", ToInstant => "toInstant",
    // subjectless
    Now => "now", Uuid => "UUID", NextInt => "nextInt", Random => "random", Ip => "ip",
    Hostname => "hostname", Thread => "thread", Literal => "literal",
    GetStateValue => "getStateValue", GetUri => "getUri",
    // multi-attribute
    AnyAttribute => "anyAttribute", AllAttributes => "allAttributes",
    AnyMatchingAttribute => "anyMatchingAttribute", AllMatchingAttributes => "allMatchingAttributes",
    AnyDelineatedValue => "anyDelineatedValue", AllDelineatedValues => "allDelineatedValues",
}

/// Whether a function takes a subject, must not have one, or both forms exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectUse {
    /// Must be called as `subject:fn(..)`; the subject is converted to the given kind.
    Required(Want),
    /// Must be called without a subject, as `${fn(..)}`.
    Standalone,
}

/// Calling convention of one function form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sig {
    pub subject: SubjectUse,
    pub min: usize,
    /// `usize::MAX` for variadic.
    pub max: usize,
    /// Conversion for each argument position (the last entry repeats for variadic functions).
    pub args: &'static [Want],
    pub result: Ty,
}

const fn sig(subject: Want, min: usize, max: usize, args: &'static [Want], result: Ty) -> Sig {
    Sig { subject: SubjectUse::Required(subject), min, max, args, result }
}

const fn standalone(min: usize, max: usize, args: &'static [Want], result: Ty) -> Sig {
    Sig { subject: SubjectUse::Standalone, min, max, args, result }
}

use Want as W;

impl Func {
    /// Find a function by its exact (case-sensitive) name. `anyDelimitedValue` and
    /// `allDelimitedValues` are accepted as aliases of NiFi's `anyDelineatedValue`/`allDelineatedValues`.
    pub fn lookup(name: &str) -> Option<Func> {
        match name {
            "anyDelimitedValue" => return Some(Func::AnyDelineatedValue),
            "allDelimitedValues" => return Some(Func::AllDelineatedValues),
            _ => {}
        }
        ALL_FUNCS.iter().copied().find(|f| f.name() == name)
    }

    /// True for the multi-attribute subject functions.
    pub fn is_multi(self) -> bool {
        matches!(
            self,
            Func::AnyAttribute
                | Func::AllAttributes
                | Func::AnyMatchingAttribute
                | Func::AllMatchingAttributes
                | Func::AnyDelineatedValue
                | Func::AllDelineatedValues
        )
    }

    /// True for the reducing (aggregate) functions `join` and `count`.
    pub fn is_reducing(self) -> bool {
        matches!(self, Func::Join | Func::Count)
    }

    /// The subject form (`subject:fn()`) signature, if the function has one.
    pub fn subject_sig(self) -> Option<Sig> {
        use Func::*;
        const S0: &[Want] = &[];
        const S1: &[Want] = &[W::Str];
        const S2: &[Want] = &[W::Str, W::Str];
        Some(match self {
            ToUpper | ToLower | Trim | UrlEncode | UrlDecode | Base64Encode | Base64Decode | EscapeJson | EscapeXml
            | EscapeCsv | EscapeHtml3 | EscapeHtml4 | UnescapeJson | UnescapeXml | UnescapeCsv | UnescapeHtml3
            | UnescapeHtml4 | EvaluateElString => sig(W::Str, 0, 0, S0, Ty::Str),
            ToString => sig(W::Any, 0, 0, S0, Ty::Str),
            SubstringBefore | SubstringBeforeLast | SubstringAfter | SubstringAfterLast | ReplaceNull
            | ReplaceEmpty | Prepend | Append | Uuid3 | Uuid5 | Hash => sig(W::Str, 1, 1, S1, Ty::Str),
            Substring => sig(W::Str, 1, 2, &[W::Whole, W::Whole], Ty::Str),
            Replace | ReplaceFirst | ReplaceAll => sig(W::Str, 2, 2, S2, Ty::Str),
            PadLeft | PadRight => sig(W::Str, 1, 2, &[W::Whole, W::Str], Ty::Str),
            Repeat => sig(W::Str, 1, 2, &[W::Whole, W::Whole], Ty::Str),
            GetDelimitedField => sig(W::Str, 1, 5, &[W::Whole, W::Str, W::Str, W::Str, W::Bool], Ty::Str),
            IfElse => sig(W::Bool, 2, 2, S2, Ty::Str),
            Join => sig(W::Str, 1, 1, S1, Ty::Str),
            Format => sig(W::Date, 1, 2, S2, Ty::Str),
            FormatInstant => sig(W::Instant, 1, 2, S2, Ty::Str),
            ToRadix => sig(W::Whole, 1, 2, &[W::Whole, W::Whole], Ty::Str),
            JsonPath | JsonPathDelete => sig(W::Str, 1, 1, S1, Ty::Str),
            JsonPathSet | JsonPathAdd => sig(W::Str, 2, 2, &[W::Str, W::Any], Ty::Str),
            JsonPathPut => sig(W::Str, 3, 3, &[W::Str, W::Str, W::Any], Ty::Str),
            IsNull | NotNull | IsEmpty | IsJson => sig(W::Str, 0, 0, S0, Ty::Bool),
            Not => sig(W::Bool, 0, 0, S0, Ty::Bool),
            Find | Matches | EqualsIgnoreCase | StartsWith | EndsWith | Contains => sig(W::Str, 1, 1, S1, Ty::Bool),
            Equals => sig(W::Any, 1, 1, &[W::Any], Ty::Bool),
            Gt | Ge | Lt | Le => sig(W::Number, 1, 1, &[W::Number], Ty::Bool),
            And | Or => sig(W::Bool, 1, 1, &[W::Bool], Ty::Bool),
            In => sig(W::Str, 1, usize::MAX, S1, Ty::Bool),
            Length => sig(W::Str, 0, 0, S0, Ty::Whole),
            IndexOf | LastIndexOf => sig(W::Str, 1, 1, S1, Ty::Whole),
            ToNumber => sig(W::Whole, 0, 0, S0, Ty::Whole),
            ToDecimal => sig(W::Number, 0, 0, S0, Ty::Decimal),
            ToMicros | ToNanos => sig(W::Instant, 0, 0, S0, Ty::Whole),
            Plus | Minus | Multiply | Divide | Mod => sig(W::Number, 1, 1, &[W::Number], Ty::Number),
            Math => sig(W::Number, 1, 2, &[W::Str, W::Number], Ty::Number),
            FromRadix => sig(W::Str, 1, 1, &[W::Whole], Ty::Whole),
            Count => sig(W::Any, 0, 0, S0, Ty::Whole),
            ToDate => sig(W::Any, 0, 2, S2, Ty::Date),
            ToInstant => sig(W::Any, 0, 2, S2, Ty::Instant),
            _ => return None,
        })
    }

    /// The subjectless form (`${fn()}`) signature, if the function has one.
    pub fn standalone_sig(self) -> Option<Sig> {
        use Func::*;
        Some(match self {
            Now => standalone(0, 0, &[], Ty::Date),
            Uuid | Ip | Thread => standalone(0, 0, &[], Ty::Str),
            NextInt | Random => standalone(0, 0, &[], Ty::Whole),
            Hostname => standalone(0, 1, &[W::Bool], Ty::Str),
            Literal => standalone(1, 1, &[W::Str], Ty::Str),
            Math => standalone(1, 1, &[W::Str], Ty::Number),
            GetStateValue => standalone(1, 1, &[W::Str], Ty::Str),
            GetUri => standalone(7, 7, &[W::Str, W::Str, W::Str, W::Whole, W::Str, W::Str, W::Str], Ty::Str),
            AnyAttribute | AllAttributes | AnyMatchingAttribute | AllMatchingAttributes => {
                standalone(1, usize::MAX, &[W::Str], Ty::Str)
            }
            AnyDelineatedValue | AllDelineatedValues => standalone(2, 2, &[W::Str, W::Str], Ty::Str),
            _ => return None,
        })
    }
}

/// A compiled regular expression, shared between clones of an [`crate::Expression`].
pub(crate) type SharedRegex = Arc<Regex>;

/// A node of the compiled expression tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A string literal without embedded expressions.
    Str(Box<str>),
    Whole(i64),
    Decimal(f64),
    Bool(bool),
    Null,
    /// A string literal with embedded `${...}`: concatenation of the parts.
    Concat(Box<[Node]>),
    /// An attribute looked up by a fixed name.
    Attr(Box<str>),
    /// An attribute whose name is computed (`${${x}}`, `${'a${b}'}`).
    DynAttr(Box<Node>),
    /// A `#{parameter}` reference.
    Param(Box<str>),
    /// The value currently being iterated by a multi-attribute expression.
    Current,
    /// A function call.
    Call(Box<Call>),
    /// A multi-attribute expression (`anyAttribute(..)...`), only at the root of an expression.
    Multi(Box<Multi>),
}

/// A function call with its (optional) subject and arguments.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub func: Func,
    pub subject: Option<Node>,
    pub args: Box<[Node]>,
    /// Static type of the subject (selects behaviour for `toDate`, `toString`, ...).
    pub subject_ty: Ty,
    /// Regex precompiled from a literal first argument (`matches`, `find`, `replaceAll`, ...).
    pub regex: Option<SharedRegex>,
}

/// Which attribute values a multi-attribute expression iterates over.
#[derive(Debug, Clone)]
pub(crate) enum MultiSource {
    /// `anyAttribute('a', 'b')`/`allAttributes(...)`: fixed names.
    Names(Box<[Box<str>]>),
    /// `anyMatchingAttribute(regex...)`: names matching any of the regexes.
    Matching(Box<[SharedRegex]>),
    /// `anyDelineatedValue(value, delimiterRegex)`.
    Delineated(Node, Node),
}

/// How the per-value results are combined.
#[derive(Debug, Clone)]
pub(crate) enum MultiMode {
    Any,
    All,
    Join(Node),
    Count,
}

/// A compiled multi-attribute expression.
#[derive(Debug, Clone)]
pub(crate) struct Multi {
    pub source: MultiSource,
    /// The function chain applied to each value; its root is [`Node::Current`].
    pub chain: Node,
    pub mode: MultiMode,
}
