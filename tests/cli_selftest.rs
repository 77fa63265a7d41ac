//! `llws selftest` against a real llama-server run by `llws serve`.

mod harness;
mod support;

use std::time::Duration;

use harness::TestEnv;
use harness::serve::{LlwsServe, llws};
use llws::config::settings::BackendKind;
use support::wait_for;

#[test]
fn selftest_passes_on_a_serving_model_and_explains_when_none_runs() {
    let env = TestEnv::new(BackendKind::Process);
    let config = env.write_settings_file();
    let port = env.settings.server.port;

    let out = llws(&config, &env.state_dir(), &["selftest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no llama-server answers"));

    let serve = LlwsServe::start(&config, &env.state_dir(), port, &["--profile", "tiny-b"]);
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    wait_for("tiny-b to serve", Duration::from_secs(90), || {
        client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .ok()
            .filter(|r| r.status().as_u16() == 200)
            .map(|_| ())
    });
    let out = llws(&config, &env.state_dir(), &["selftest"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("ok    short prompt"), "{report}");
    assert!(
        report.contains("ok    long prompt (100+ tokens)"),
        "{report}"
    );
    let prompt_tokens: u64 = report
        .lines()
        .find(|l| l.contains("long prompt"))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|d| d.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the long prompt's token count");
    assert!(prompt_tokens > 100, "{report}");
    assert!(report.contains("ok    server log"), "{report}");
    drop(serve);
}
