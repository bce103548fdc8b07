//! An MCP server over stdio, as MCP clients run SDK servers: newline-delimited
//! JSON-RPC on stdin and stdout, logs on stderr, done when stdin closes.
//!
//! Tools: `echo` (its `text`), `whoami` (this process's id, to tell
//! restarted children apart), `getenv` (an environment variable), `sample` (asks the client for a completion with
//! `sampling/createMessage` in the middle of the call, as an SDK tool does
//! with `ctx.session.create_message`, and returns its text), `progress`
//! (sends progress against the call's token, then answers), `crash` (exits
//! mid-call). With `FIXTURE_TOOLS_FILE` set, it also lists one tool per line
//! of that file, and `grow {name}` adds a line and says
//! `notifications/tools/list_changed`: state outside the process, as a
//! server over a directory or a config has, so a second process sees it.
//! With `FIXTURE_RESOURCE_FILE` set, it serves one resource, `file://note`,
//! whose text is that file's, takes subscriptions to it, and `touch {text}`
//! writes the file and says `notifications/resources/updated`.
//! `fixture-stdio --exit-at-once` writes an error to stderr and exits
//! before reading anything, like a server missing its config.

use std::io::{BufRead, Write};

use serde_json::{Value, json};

fn send(out: &mut impl Write, msg: &Value) {
    let mut line = serde_json::to_vec(msg).expect("JSON");
    line.push(b'\n');
    out.write_all(&line).expect("write stdout");
    out.flush().expect("flush stdout");
}

fn text(s: &str) -> Value {
    json!({"content": [{"type": "text", "text": s}]})
}

fn tools() -> Value {
    let schema = |props: Value| json!({"type": "object", "properties": props});
    json!([
        {"name": "echo", "description": "Echoes its text", "inputSchema": schema(json!({"text": {"type": "string"}}))},
        {"name": "whoami", "description": "This server's process id", "inputSchema": schema(json!({}))},
        {"name": "getenv", "description": "An environment variable", "inputSchema": schema(json!({"name": {"type": "string"}}))},
        {"name": "sample", "description": "Asks the client for a completion", "inputSchema": schema(json!({"prompt": {"type": "string"}}))},
        {"name": "progress", "description": "Reports progress, then answers", "inputSchema": schema(json!({}))},
        {"name": "crash", "description": "Exits mid-call", "inputSchema": schema(json!({}))},
        {"name": "grow", "description": "Adds a tool to FIXTURE_TOOLS_FILE", "inputSchema": schema(json!({"name": {"type": "string"}}))},
        {"name": "touch", "description": "Writes FIXTURE_RESOURCE_FILE", "inputSchema": schema(json!({"text": {"type": "string"}}))}
    ])
}

const NOTE: &str = "file://note";

/// The tools named in `FIXTURE_TOOLS_FILE`, one per line.
fn grown() -> Vec<Value> {
    let Ok(file) = std::env::var("FIXTURE_TOOLS_FILE") else {
        return Vec::new();
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|name| json!({"name": name, "description": "grown", "inputSchema": {"type": "object"}}))
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--exit-at-once") {
        eprintln!("fixture-stdio: missing configuration, exiting");
        std::process::exit(3);
    }
    eprintln!("fixture-stdio {} started", std::process::id());
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut out = std::io::stdout().lock();
    let mut asked = 0u64;
    while let Some(Ok(line)) = lines.next() {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let (Some(id), Some(method)) = (msg.get("id").cloned(), msg.get("method").and_then(Value::as_str)) else {
            continue; // a notification, or an answer nobody waits for
        };
        let result = match method {
            "initialize" => json!({
                "protocolVersion": msg.pointer("/params/protocolVersion").cloned().unwrap_or(json!("2025-06-18")),
                "capabilities": {
                    "tools": {"listChanged": std::env::var_os("FIXTURE_TOOLS_FILE").is_some()},
                    "resources": {"subscribe": true}
                },
                "serverInfo": {"name": "fixture-stdio", "version": "1"}
            }),
            "ping" => json!({}),
            "resources/list" => match std::env::var_os("FIXTURE_RESOURCE_FILE") {
                Some(_) => json!({"resources": [{"uri": NOTE, "name": "note", "mimeType": "text/plain"}]}),
                None => json!({"resources": []}),
            },
            "resources/read" => {
                let text = std::env::var("FIXTURE_RESOURCE_FILE")
                    .ok()
                    .and_then(|f| std::fs::read_to_string(f).ok())
                    .unwrap_or_default();
                json!({"contents": [{"uri": NOTE, "mimeType": "text/plain", "text": text}]})
            }
            "resources/subscribe" | "resources/unsubscribe" => json!({}),
            "tools/list" => {
                let mut all = tools().as_array().cloned().unwrap_or_default();
                all.extend(grown());
                json!({"tools": all})
            }
            "tools/call" => {
                let args = msg.pointer("/params/arguments").cloned().unwrap_or(json!({}));
                match msg.pointer("/params/name").and_then(Value::as_str) {
                    Some("echo") => text(args.get("text").and_then(Value::as_str).unwrap_or_default()),
                    Some("whoami") => text(&std::process::id().to_string()),
                    Some("getenv") => {
                        let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
                        text(&std::env::var(name).unwrap_or_else(|_| "(unset)".into()))
                    }
                    Some("crash") => std::process::exit(1),
                    Some("touch") => {
                        let written = args.get("text").and_then(Value::as_str).unwrap_or_default();
                        if let Ok(file) = std::env::var("FIXTURE_RESOURCE_FILE") {
                            std::fs::write(file, written).expect("write the resource file");
                        }
                        send(
                            &mut out,
                            &json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": NOTE}}),
                        );
                        text("touched")
                    }
                    Some("grow") => {
                        let name = args.get("name").and_then(Value::as_str).unwrap_or("grown");
                        let Ok(file) = std::env::var("FIXTURE_TOOLS_FILE") else {
                            send(
                                &mut out,
                                &json!({"jsonrpc": "2.0", "id": id, "result": text("no FIXTURE_TOOLS_FILE")}),
                            );
                            continue;
                        };
                        let mut f = std::fs::OpenOptions::new()
                            .append(true)
                            .create(true)
                            .open(file)
                            .expect("open the tools file");
                        writeln!(f, "{name}").expect("write the tools file");
                        send(
                            &mut out,
                            &json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                        );
                        text("grown")
                    }
                    Some("progress") => {
                        let token = msg.pointer("/params/_meta/progressToken").cloned();
                        if let Some(token) = token {
                            for n in 1..=3 {
                                let params = json!({"progressToken": token, "progress": n, "total": 3});
                                send(
                                    &mut out,
                                    &json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params}),
                                );
                            }
                        }
                        text("done")
                    }
                    Some("sample") => {
                        asked += 1;
                        let ask = format!("s-{asked}");
                        let prompt = args.get("prompt").and_then(Value::as_str).unwrap_or("hi");
                        let params = json!({"messages": [{"role": "user", "content": {"type": "text", "text": prompt}}], "maxTokens": 20});
                        send(
                            &mut out,
                            &json!({"jsonrpc": "2.0", "id": ask, "method": "sampling/createMessage", "params": params}),
                        );
                        // Wait for the client's answer on stdin, as an SDK server does.
                        let answer = loop {
                            let Some(Ok(line)) = lines.next() else {
                                std::process::exit(0)
                            };
                            let Ok(m) = serde_json::from_str::<Value>(&line) else {
                                continue;
                            };
                            if m.get("id") == Some(&json!(ask)) && m.get("method").is_none() {
                                break m;
                            }
                        };
                        match answer.pointer("/result/content/text").and_then(Value::as_str) {
                            Some(t) => text(&format!("the client said: {t}")),
                            None => {
                                json!({"content": [{"type": "text", "text": format!("sampling failed: {answer}")}], "isError": true})
                            }
                        }
                    }
                    _ => {
                        send(
                            &mut out,
                            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "unknown tool"}}),
                        );
                        continue;
                    }
                }
            }
            _ => {
                send(
                    &mut out,
                    &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}}),
                );
                continue;
            }
        };
        send(&mut out, &json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }
}
