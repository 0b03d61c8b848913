//! `sluice el 'EXPRESSION' [--attr NAME=VALUE]...` through the real binary, per the CLI contract:
//! the result on one line and exit 0; an invalid expression exits non-zero with the reason.

use std::process::Command;

/// Runs `sluice el` with `args`; returns (success, stdout, stderr).
fn el(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("el")
        .args(args)
        // Errors must stay one line whatever the environment asks for.
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run sluice el");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a failed run: non-zero exit, nothing on stdout, and one `Error: ` line on stderr
/// (no backtrace) that is returned for further checks.
fn error_line(args: &[&str]) -> String {
    let (ok, out, err) = el(args);
    assert!(!ok, "{args:?} should fail, printed {out:?}");
    assert_eq!(out, "", "{args:?}: nothing on stdout");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one error line, no backtrace: {err}");
    assert!(lines[0].starts_with("Error: "), "{err}");
    lines[0].to_string()
}

/// A valid expression over several `--attr` attributes prints exactly its result and a newline,
/// and exits 0.
#[test]
fn valid_expression_with_attributes_prints_one_line() {
    let (ok, out, err) =
        el(&["${filename:toUpper()}-${size:plus(1)}", "--attr", "filename=report.csv", "--attr", "size=41"]);
    assert!(ok, "{err}");
    assert_eq!(out, "REPORT.CSV-42\n");
    assert_eq!(err, "");

    // Literal text around expressions is kept; NiFi's number formatting is used.
    let (ok, out, err) = el(&["total: ${a:toDecimal():multiply(2)} units", "--attr", "a=1.75"]);
    assert!(ok, "{err}");
    assert_eq!(out, "total: 3.5 units\n");
}

/// `--attr NAME=VALUE` splits at the first `=`: values may hold `=` or be empty.
#[test]
fn attr_values_split_at_the_first_equals_sign() {
    let (ok, out, err) = el(&["[${q}]", "--attr", "q=a=b=c"]);
    assert!(ok, "{err}");
    assert_eq!(out, "[a=b=c]\n");
    let (ok, out, err) = el(&["${e:isEmpty()}", "--attr", "e="]);
    assert!(ok, "{err}");
    assert_eq!(out, "true\n");
}

/// Without `--attr` an expression still evaluates: a missing attribute is empty (an empty
/// line), as in NiFi, and functions without a subject work.
#[test]
fn missing_attributes_evaluate_to_empty() {
    let (ok, out, err) = el(&["${nothing}"]);
    assert!(ok, "{err}");
    assert_eq!(out, "\n");
    let (ok, out, err) = el(&["${nothing:isNull()} ${literal('x'):repeat(3)}"]);
    assert!(ok, "{err}");
    assert_eq!(out, "true xxx\n");
}

/// An invalid expression exits non-zero with one error line naming the problem, the column
/// where it is and the expression.
#[test]
fn invalid_expression_names_the_problem_and_its_position() {
    let e = error_line(&["${filename:toUpper(}", "--attr", "filename=x"]);
    assert!(e.contains("but found '}'"), "{e}");
    assert!(e.contains("at column 20"), "{e}");
    assert!(e.contains("'${filename:toUpper(}'"), "{e}");

    let e = error_line(&["${filename:unknownFn()}"]);
    assert!(e.contains("unknown function 'unknownFn'"), "{e}");
    assert!(e.contains("at column 12"), "{e}");

    // Wrong arity: the position moves with the function.
    let e = error_line(&["abc ${a:substring(1,2,3)}"]);
    assert!(e.contains("substring() takes 1 to 2 arguments but 3 were given"), "{e}");
    assert!(e.contains("at column 9"), "{e}");
}

/// An expression that compiles but fails to evaluate also exits non-zero with the reason.
#[test]
fn evaluation_failure_exits_non_zero_with_the_reason() {
    let e = error_line(&["${s:repeat(-1)}", "--attr", "s=abc"]);
    assert!(e.contains("repeat"), "{e}");
    assert!(e.contains("must be positive but was -1"), "{e}");
}

/// An `--attr` without `=` is refused with a message showing the expected form.
#[test]
fn malformed_attr_is_refused() {
    let e = error_line(&["${a}", "--attr", "noequals"]);
    assert!(e.contains("--attr 'noequals' must be NAME=VALUE"), "{e}");
}
