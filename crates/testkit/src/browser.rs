//! A real headless Chromium driven over the DevTools protocol (CDP), for the dashboard's
//! browser tests.
//!
//! Why a few hundred lines here rather than a CDP crate: the protocol needed is six methods
//! (create and attach a target, navigate, evaluate, screenshot, a key press) over one
//! WebSocket, which `tokio-tungstenite` (already a dependency) speaks; the CDP crates carry
//! the whole generated protocol and take minutes to compile on a small CI machine.
//!
//! The browser is Debian's `chromium` (or `POIGATE_CHROMIUM`); it is never downloaded.
//! [`Browser::launch`] answers `None` when there is none, and the caller skips with one line —
//! unless `CI` is set, where a missing browser is an error.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value>>>>>;

/// A headless Chromium with one page.
pub struct Browser {
    child: tokio::process::Child,
    _profile: tempfile::TempDir,
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next_id: AtomicU64,
    session: String,
}

/// Where the browser is: `POIGATE_CHROMIUM`, else `chromium` / `chromium-browser` on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POIGATE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts Chromium, or `Ok(None)` when it is not installed and `CI` is not set.
    pub async fn launch() -> Result<Option<Browser>> {
        let Some(binary) = find_chromium() else {
            if std::env::var_os("CI").is_some() {
                bail!("chromium is required in CI (.ci/run installs it) but was not found");
            }
            return Ok(None);
        };
        let profile = tempfile::tempdir()?;
        let mut child = tokio::process::Command::new(&binary)
            .args([
                "--headless=new",
                // CI runs as root, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stderr = child.stderr.take().context("chromium stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let ws_url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Ok::<_, anyhow::Error>(url.trim().to_string());
                }
            }
            bail!("chromium exited before it listened")
        })
        .await
        .context("chromium did not start within 60 s")??;
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let (socket, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .context("connect to chromium")?;
        let (mut sink, mut stream) = socket.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                let Some(id) = value.get("id").and_then(Value::as_u64) else {
                    continue; // an event: not needed
                };
                if let Some(tx) = reader_pending.lock().await.remove(&id) {
                    let answer = match value.get("error") {
                        Some(e) => Err(anyhow::anyhow!("CDP error: {e}")),
                        None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
                    };
                    let _ = tx.send(answer);
                }
            }
        });
        let mut browser = Browser {
            child,
            _profile: profile,
            out,
            pending,
            next_id: AtomicU64::new(1),
            session: String::new(),
        };
        let target = browser
            .send(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let target_id = target["targetId"].as_str().context("targetId")?.to_string();
        let attached = browser
            .send(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        browser.session = attached["sessionId"]
            .as_str()
            .context("sessionId")?
            .to_string();
        browser
            .command(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await?;
        Ok(Some(browser))
    }

    async fn send(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id, tx);
        self.out
            .send(message.to_string())
            .map_err(|_| anyhow::anyhow!("the browser connection is closed"))?;
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .with_context(|| format!("{method}: no answer within 30 s"))?
            .context("the browser connection closed")?
    }

    /// A command to the page.
    pub async fn command(&self, method: &str, params: Value) -> Result<Value> {
        self.send(Some(&self.session.clone()), method, params).await
    }

    /// Evaluates `expression` in the page; its value (promises awaited).
    pub async fn eval(&self, expression: &str) -> Result<Value> {
        let answer = self
            .command(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(e) = answer.get("exceptionDetails") {
            bail!("script failed: {e}\n{expression}");
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.command("Page.navigate", json!({"url": url})).await?;
        self.wait_until(
            &format!(
                "document.readyState === 'complete' && location.href.startsWith({})",
                js_str(url)
            ),
            Duration::from_secs(15),
        )
        .await
    }

    /// Polls `condition` (a script) until it is true, at most `deadline`.
    pub async fn wait_until(&self, condition: &str, deadline: Duration) -> Result<()> {
        let last = std::sync::Mutex::new(Value::Null);
        let met = crate::eventually(deadline, || async {
            // A navigation in between may make one evaluation fail: try again.
            match self.eval(&format!("!!({condition})")).await {
                Ok(Value::Bool(true)) => Some(()),
                Ok(v) => {
                    *last.lock().unwrap_or_else(|p| p.into_inner()) = v;
                    None
                }
                Err(_) => None,
            }
        })
        .await;
        if met.is_ok() {
            return Ok(());
        }
        let last = last.into_inner().unwrap_or_else(|p| p.into_inner());
        let location = self.eval("location.href").await.unwrap_or_default();
        let text = self
            .eval("document.body ? document.body.innerText.slice(0, 1500) : ''")
            .await
            .unwrap_or_default();
        bail!(
            "not true within {deadline:?}: {condition} (last {last}) at {location}\npage text:\n{}",
            text.as_str().unwrap_or("")
        )
    }

    /// The text of the first element matching `selector` (empty when there is none).
    pub async fn text(&self, selector: &str) -> Result<String> {
        let v = self
            .eval(&format!(
                "(document.querySelector({0}) || {{innerText: ''}}).innerText",
                js_str(selector)
            ))
            .await?;
        Ok(v.as_str().unwrap_or("").to_string())
    }

    /// Waits until the element `selector` contains `text`.
    pub async fn wait_for_text(&self, selector: &str, text: &str) -> Result<()> {
        self.wait_until(
            &format!(
                "(document.querySelector({0}) || {{innerText: ''}}).innerText.includes({1})",
                js_str(selector),
                js_str(text)
            ),
            Duration::from_secs(20),
        )
        .await
    }

    /// Sets a form field (input or select) as a person would, firing `input` and `change`.
    pub async fn fill(&self, selector: &str, value: &str) -> Result<()> {
        let done = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({0}); if (!e) return false; e.focus(); e.value = {1};
                   e.dispatchEvent(new Event('input', {{bubbles: true}})); e.dispatchEvent(new Event('change', {{bubbles: true}})); return e.value === {1}; }})()",
                js_str(selector),
                js_str(value)
            ))
            .await?;
        if done != Value::Bool(true) {
            bail!("cannot fill {selector} with {value:?}");
        }
        Ok(())
    }

    /// Clicks the element `selector` (a submit button submits its form).
    pub async fn click(&self, selector: &str) -> Result<()> {
        let done = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({0}); if (!e) return false; e.click(); return true; }})()",
                js_str(selector)
            ))
            .await?;
        if done != Value::Bool(true) {
            bail!("nothing to click at {selector}");
        }
        Ok(())
    }

    /// Clicks `selector` and waits for the page it leads to (a form post and its redirect).
    pub async fn click_and_wait(&self, selector: &str) -> Result<()> {
        self.eval("window.__poigate_old_page = true").await?;
        self.click(selector).await?;
        self.wait_until(
            "window.__poigate_old_page === undefined && document.readyState === 'complete'",
            Duration::from_secs(15),
        )
        .await
    }

    /// Presses a key (`Tab`, `Enter`) on the keyboard.
    pub async fn press(&self, key: &str, code: i64) -> Result<()> {
        for kind in ["keyDown", "keyUp"] {
            self.command(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}),
            )
            .await?;
        }
        Ok(())
    }

    /// Takes a PNG screenshot of the viewport into `path`; returns its (width, height).
    pub async fn screenshot(&self, path: &Path) -> Result<(u32, u32)> {
        let shot = self
            .command("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let data = shot["data"].as_str().context("screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        // The PNG signature and the IHDR chunk's size: it is an image of the viewport.
        if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" {
            bail!("the screenshot is not a PNG");
        }
        let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &png)?;
        Ok((width, height))
    }

    /// Whether each selector names an element that is visible in the viewport now.
    pub async fn visible(&self, selectors: &[&str]) -> Result<Vec<(String, bool)>> {
        let mut out = Vec::new();
        for s in selectors {
            let v = self
                .eval(&format!(
                    "(() => {{ const e = document.querySelector({0}); if (!e) return false; const r = e.getBoundingClientRect();
                       const st = getComputedStyle(e);
                       return r.width > 0 && r.height > 0 && r.top < innerHeight && r.bottom > 0 && st.visibility !== 'hidden' && st.display !== 'none'; }})()",
                    js_str(s)
                ))
                .await?;
            out.push((s.to_string(), v == Value::Bool(true)));
        }
        Ok(out)
    }

    /// Stops the browser.
    pub async fn close(mut self) -> Result<()> {
        let _ = self.send(None, "Browser.close", json!({})).await;
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                self.child.kill().await?;
                Ok(())
            }
        }
    }
}

/// `s` as a JavaScript string literal.
pub fn js_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
