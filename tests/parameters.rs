//! Flow parameters through the real binary: `#{name}` in property values is replaced by the
//! flow's value, an environment variable `SLUICE_PARAM_<NAME>` overrides it, and a reference to
//! a parameter that is defined nowhere keeps the processor from starting, with a message that
//! names the parameter and the variable that would supply it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `GenerateFlowFile` (Custom Text `custom_text`, once a minute) → `PutFile` into `#{out.dir}`,
/// both RUNNING, with `parameters` as the flow's parameters.
fn flow(custom_text: &str, parameters: serde_json::Value) -> String {
    let scheduling = |period: &str| {
        serde_json::json!({"strategy": "TIMER_DRIVEN", "period": period, "concurrent_tasks": 1,
                           "penalty": "30 sec", "yield": "1 sec", "run_duration": "0 ms"})
    };
    let def = serde_json::json!({
        "version": 1,
        "name": "Parameters",
        "parameters": parameters,
        "processors": [
            {"id": "gen", "type": "GenerateFlowFile", "name": "Generate",
             "properties": {"Custom Text": custom_text},
             "state": "RUNNING", "auto_terminated_relationships": [], "scheduling": scheduling("1 min")},
            {"id": "put", "type": "PutFile", "name": "Write",
             "properties": {"Directory": "#{out.dir}"},
             "state": "RUNNING", "auto_terminated_relationships": ["success", "failure"],
             "scheduling": scheduling("0 sec")}
        ],
        "connections": [{"id": "c", "source": "gen", "relationships": ["success"], "destination": "put"}]
    });
    serde_json::to_string_pretty(&def).unwrap()
}

/// A `sluice run` of a flow file, stopped with SIGTERM when dropped.
struct Sluice {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Sluice {
    /// Writes `flow` to `dir/flow.json` and runs it with `env` (every other `SLUICE_PARAM_*`
    /// variable of this process removed); returns once `/api/health` answers 200.
    fn run(dir: &Path, flow: &str, env: &[(&str, &str)]) -> Sluice {
        let flow_path = dir.join("flow.json");
        std::fs::write(&flow_path, flow).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join("sluice.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        // In the temp dir: relative paths (say, an unsubstituted `#{out.dir}`) land there.
        cmd.current_dir(dir)
            .args(["run", "--flow"])
            .arg(&flow_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("SLUICE_LOG", "info")
            .env("NO_COLOR", "1")
            // The log goes to stdout.
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SLUICE_PARAM_")) {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let s = Sluice { child: cmd.spawn().expect("start sluice"), base: format!("http://127.0.0.1:{port}"), log };
        let t0 = Instant::now();
        loop {
            if reqwest::blocking::get(format!("{}/api/health", s.base)).is_ok_and(|r| r.status().is_success()) {
                return s;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "sluice not ready: {}", s.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The processor `id` of `GET /api/flow`.
    fn processor(&self, id: &str) -> serde_json::Value {
        let flow: serde_json::Value =
            reqwest::blocking::get(format!("{}/api/flow", self.base)).unwrap().json().unwrap();
        flow["processors"].as_array().unwrap().iter().find(|p| p["id"] == id).cloned().expect("processor in flow")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// The contents of the files written to `dir`, waiting up to 20 s for the first.
fn written(dir: &Path) -> Vec<String> {
    let t0 = Instant::now();
    loop {
        let files: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        if !files.is_empty() || t0.elapsed() > Duration::from_secs(20) {
            return files;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The flow's parameter values replace `#{name}` wherever it appears in a property value
/// (inside text, and as a whole value), and the flow file keeps the reference, not the value.
#[test]
fn defined_parameters_are_substituted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out-flow");
    let text = flow(
        "greeting=#{greeting}; again=#{greeting}",
        serde_json::json!({"greeting": "from-flow", "out.dir": out.to_str().unwrap()}),
    );
    let s = Sluice::run(dir.path(), &text, &[]);
    assert_eq!(written(&out), vec!["greeting=from-flow; again=from-flow"], "{}", s.log_text());
    assert_eq!(s.processor("gen")["properties"]["Custom Text"], "greeting=#{greeting}; again=#{greeting}");
    drop(s);
    let saved = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    assert!(saved.contains("greeting=#{greeting}; again=#{greeting}"), "{saved}");
}

/// `SLUICE_PARAM_<NAME>` (upper case, other characters as `_`) wins over the flow's value:
/// `greeting` and `out.dir` both come from the environment, and nothing goes to the flow's
/// directory. The environment's values are not written into the flow file.
#[test]
fn environment_overrides_the_flows_value() {
    let dir = tempfile::tempdir().unwrap();
    let flow_out = dir.path().join("out-flow");
    let env_out = dir.path().join("out-env");
    let text = flow("greeting=#{greeting}", serde_json::json!({"greeting": "from-flow", "out.dir": flow_out}));
    let s = Sluice::run(
        dir.path(),
        &text,
        &[("SLUICE_PARAM_GREETING", "from-env"), ("SLUICE_PARAM_OUT_DIR", env_out.to_str().unwrap())],
    );
    assert_eq!(written(&env_out), vec!["greeting=from-env"], "{}", s.log_text());
    assert!(!flow_out.exists(), "the flow's out.dir was overridden");
    drop(s);
    let saved = std::fs::read_to_string(dir.path().join("flow.json")).unwrap();
    assert!(!saved.contains("from-env"), "an environment value was saved into the flow file: {saved}");
}

/// A reference to a parameter that neither the flow nor the environment defines keeps the
/// processor from starting: its validation errors (and the log) name the parameter and the
/// variable that would supply it, and nothing is produced. Supplying that variable fixes it.
#[test]
fn undefined_parameter_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = flow("value=#{nowhere}", serde_json::json!({"out.dir": out}));
    let expected = "parameter 'nowhere' is not defined (add it to the flow's parameters or set SLUICE_PARAM_NOWHERE)";
    // `sluice validate` reports it too, with the property's path.
    let file = dir.path().join("flow-to-validate.json");
    std::fs::write(&file, &text).unwrap();
    let v = std::process::Command::new(env!("CARGO_BIN_EXE_sluice")).arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&v.stderr);
    assert!(!v.status.success(), "validate must refuse an undefined parameter: {stderr}");
    assert!(stderr.contains("processors[0].properties.Custom Text") && stderr.contains(expected), "{stderr}");
    {
        let s = Sluice::run(dir.path(), &text, &[]);
        let generator = s.processor("gen");
        let errors = generator["validation_errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e == expected), "{generator}");
        assert_ne!(generator["state"], "RUNNING", "{generator}");
        assert!(s.processor("put")["validation_errors"].as_array().unwrap().is_empty(), "put's parameters resolve");
        let log = s.log_text();
        assert!(log.contains("'Generate' cannot start") && log.contains(expected), "{log}");
        std::thread::sleep(Duration::from_millis(500));
        assert!(!out.exists(), "nothing is generated from an unresolved reference");
    }

    let dir = tempfile::tempdir().unwrap();
    let s = Sluice::run(dir.path(), &text, &[("SLUICE_PARAM_NOWHERE", "now-here")]);
    assert!(s.processor("gen")["validation_errors"].as_array().unwrap().is_empty());
    assert_eq!(written(&out), vec!["value=now-here"], "{}", s.log_text());
}
