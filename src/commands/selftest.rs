//! `llws selftest`: is the loaded model really serving? A short prompt, then one of more
//! than 100 tokens (the original's CUDA crash only showed with longer prompts; short ones
//! hid it for weeks), the server's health after each, and its log scanned for CUDA errors.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::api::client::ApiClient;
use crate::server::health::{Health, HealthProbe};

use super::Context;

/// Log lines that mean the GPU side broke, even when the HTTP answer looked fine.
const ALARMS: &[&str] = &[
    "cuda error",
    "ggml_assert",
    "ggml_abort",
    "illegal memory access",
    "out of memory",
    "segmentation fault",
];

/// About 160 tokens of plain prose: long enough to cross the batch sizes where the
/// multi-GPU crash appeared, short enough for a CPU model.
const LONG_PROMPT: &str = "Read the following notes and answer with one short sentence. \
The build server compiles the project every night at two o'clock. It runs the unit tests, \
then the integration tests against a real database, then packages the binaries for three \
platforms. Last week the packaging step failed twice because the disk filled up with old \
artifacts; the team added a cleanup job that deletes artifacts older than seven days. On \
Tuesday the integration tests were slow because the database container started without its \
cache; on Wednesday they were fast again. The release manager wants a summary every Friday \
that lists failures, their causes and the fixes that were applied. Question: what filled the \
disk, and what was done about it?";

struct Probe {
    name: &'static str,
    prompt: &'static str,
    max_tokens: u32,
}

pub fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(ctx))
}

async fn run_async(ctx: &Context) -> anyhow::Result<ExitCode> {
    let base = ctx.settings.server.base_url();
    let health = HealthProbe::new(&base);
    match health.probe().await {
        Health::Ready => {}
        Health::Loading => {
            eprintln!(
                "llws: the server at {base} is still loading its model; try again when it is ready"
            );
            return Ok(ExitCode::FAILURE);
        }
        _ => {
            eprintln!(
                "llws: no llama-server answers at {base}; start one (`llws up PROFILE`, or the workspace) first"
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut failed = 0;
    let probes = [
        Probe {
            name: "short prompt",
            prompt: "Reply with the single word OK.",
            max_tokens: 16,
        },
        Probe {
            name: "long prompt (100+ tokens)",
            prompt: LONG_PROMPT,
            max_tokens: 32,
        },
    ];
    for probe in &probes {
        let started = Instant::now();
        let reply = http
            .post(format!("{base}/v1/messages"))
            .json(&serde_json::json!({
                "model": ctx.settings.claude.model,
                "max_tokens": probe.max_tokens,
                "messages": [{"role": "user", "content": probe.prompt}],
            }))
            .send()
            .await;
        let elapsed = started.elapsed();
        let verdict = match reply {
            Ok(resp) if resp.status().is_success() => {
                match resp.json::<serde_json::Value>().await {
                    Ok(body) if body["content"].is_array() => {
                        let input = body["usage"]["input_tokens"].as_u64().unwrap_or(0);
                        let output = body["usage"]["output_tokens"].as_u64().unwrap_or(0);
                        Ok(format!(
                            "{input} prompt tokens, {output} generated in {:.1} s",
                            elapsed.as_secs_f64()
                        ))
                    }
                    Ok(body) => Err(format!("an answer without content: {body}")),
                    Err(e) => Err(format!("an answer that is not JSON: {e}")),
                }
            }
            Ok(resp) => Err(format!(
                "HTTP {}: {}",
                resp.status(),
                resp.text().await.unwrap_or_default().trim()
            )),
            Err(e) => Err(format!("no answer: {e}")),
        };
        let alive = health.probe().await == Health::Ready;
        match (verdict, alive) {
            (Ok(detail), true) => println!("ok    {}: {detail}", probe.name),
            (Ok(detail), false) => {
                failed += 1;
                println!(
                    "FAIL  {}: {detail}, but the server stopped answering /health afterwards",
                    probe.name
                );
            }
            (Err(why), _) => {
                failed += 1;
                println!("FAIL  {}: {why}", probe.name);
            }
        }
    }
    // The log, from the llws that runs the server (when one answers).
    let client = ApiClient::new(&ctx.settings.api, Some(Duration::from_secs(2)));
    match client.logs(500).await {
        Ok(logs) => {
            let alarms: Vec<&str> = logs
                .lines
                .iter()
                .map(|l| l.text.as_str())
                .filter(|t| {
                    let lower = t.to_lowercase();
                    ALARMS.iter().any(|a| lower.contains(a))
                })
                .collect();
            if alarms.is_empty() {
                println!("ok    server log: no CUDA errors, asserts or out-of-memory lines");
            } else {
                failed += 1;
                println!("FAIL  server log: {} alarming line(s):", alarms.len());
                for line in alarms.iter().take(10) {
                    println!("        {}", crate::util::text::for_stdout(line));
                }
            }
        }
        Err(_) => println!(
            "note  server log: no llws API answers at {}, so the log was not checked",
            client.base_url()
        ),
    }
    if failed == 0 {
        println!("\nThe server answers short and long prompts.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "\n{failed} check(s) failed. After a llama.cpp update, roll back to the last working image tag and report the failing prompt."
        );
        Ok(ExitCode::FAILURE)
    }
}
