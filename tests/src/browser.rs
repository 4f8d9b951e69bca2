//! A headless Chromium driven over WebDriver: Debian's `chromium` and `chromium-driver`
//! (`KOMANDER_TEST_CHROMEDRIVER` and `KOMANDER_TEST_CHROMIUM` name other binaries). The driver
//! runs on a free port of 127.0.0.1 and is stopped by its process id when the [`Browser`] is
//! dropped.

use std::{
    net::TcpListener,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Where the screenshots of a run go: `KOMANDER_SCREENSHOTS`, else `target/screenshots` of the
/// repository (the README names it).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("KOMANDER_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots"))
}

/// The chromedriver and chromium binaries; `None` after a loud message when they are missing
/// outside CI.
///
/// # Panics
/// Under `CI=true` when they are missing.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let driver = std::env::var_os("KOMANDER_TEST_CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    let chromium = std::env::var_os("KOMANDER_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if driver.exists() && chromium.exists() {
        return Some((driver, chromium));
    }
    let message = format!(
        "no browser: {} or {} is missing (apt-get install chromium chromium-driver): the \
         browser tests do not run",
        driver.display(),
        chromium.display()
    );
    assert!(
        !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")),
        "{message}"
    );
    eprintln!("\n!!! {message}\n");
    None
}

/// The window sizes pages are checked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// 390 × 844, a phone held upright.
    Phone,
    /// 1280 × 900.
    Desktop,
}

impl Layout {
    /// `phone` or `desktop`, for file names.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Phone => "phone",
            Layout::Desktop => "desktop",
        }
    }

    fn size(self) -> (u32, u32) {
        match self {
            Layout::Phone => (390, 844),
            Layout::Desktop => (1280, 900),
        }
    }
}

/// axe-core's script (`KOMANDER_TEST_AXE`, which `scripts/test.sh` installs from the npm
/// registry, pinned); `None` after a loud message outside CI.
///
/// # Panics
/// Under `CI=true` when it is not there.
pub fn axe_script() -> Option<String> {
    let path = std::env::var_os("KOMANDER_TEST_AXE").map(PathBuf::from);
    if let Some(script) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        return Some(script);
    }
    let message = format!(
        "no axe-core: KOMANDER_TEST_AXE ({path:?}) names no readable file; run \
         `bash scripts/test.sh`, which installs it: the accessibility check does not run"
    );
    assert!(
        !matches!(std::env::var("CI").as_deref(), Ok("true" | "1")),
        "{message}"
    );
    eprintln!("\n!!! {message}\n");
    None
}

/// A chromedriver process and a session of headless Chromium in it.
pub struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub client: Client,
}

impl Browser {
    /// A headless Chromium with JavaScript on or off, in a window `width` × `height`; `None`
    /// when no browser is installed (outside CI).
    ///
    /// # Panics
    /// When the driver does not start within 20 s.
    pub async fn start(javascript: bool, width: u32, height: u32) -> Option<Browser> {
        let (driver_path, chromium) = binaries()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // A process group of its own: the browsers it starts stay in it, so stopping the group
        // stops them too, even when a failed test never ended its session.
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let mut browser_args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-proxy-server".to_owned(),
            format!("--window-size={width},{height}"),
        ];
        if !javascript {
            browser_args.push("--blink-settings=scriptEnabled=false".to_owned());
        }
        let mut options = json!({
            "binary": chromium,
            "args": browser_args,
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut driver = Some(driver);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    if let Some(mut d) = driver.take() {
                        stop_group(&mut d);
                    }
                    panic!("chromedriver did not start a session: {e}");
                }
            }
        };
        Some(Browser {
            driver: driver.take().expect("the driver"),
            client,
        })
    }

    /// A headless Chromium with JavaScript on or off, in a window of `layout`'s size.
    ///
    /// # Panics
    /// As [`Browser::start`].
    pub async fn start_in(javascript: bool, layout: Layout) -> Option<Browser> {
        let (width, height) = layout.size();
        Self::start(javascript, width, height).await
    }

    /// Runs axe-core (`axe`, its script) on the page and fails on any serious or critical
    /// violation, naming the page, the rule and the elements.
    ///
    /// # Panics
    /// On such a violation, or when axe does not run.
    pub async fn check_accessibility(&self, axe: &str, page: &str) {
        self.client
            .execute(axe, Vec::new())
            .await
            .expect("injecting axe-core");
        let script = "const done = arguments[arguments.length - 1];\
            axe.run(document).then(r => done(r.violations.filter(v => \
            v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, \
            impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html)})))\
            , e => done({error: String(e)}));";
        let violations = self
            .client
            .execute_async(script, Vec::new())
            .await
            .expect("running axe-core");
        assert!(
            violations.as_array().is_some_and(Vec::is_empty),
            "axe-core on {page}: {violations:#}"
        );
    }

    /// Opens `url` and waits for the page to load.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("opening the page");
    }

    /// The element matching `css`, waiting up to 10 s for it.
    ///
    /// # Panics
    /// When none comes, with the page's source.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element {css}: {e}\n{}",
                self.client.source().await.unwrap_or_default()
            ),
        }
    }

    /// Types `text` into the field matching `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clearing the field");
        field.send_keys(text).await.expect("typing");
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clicking");
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.find("body").await.text().await.unwrap_or_default()
    }

    /// Waits (up to 10 s) until the page's text contains `needle`.
    ///
    /// # Panics
    /// When it does not, with the page's text.
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the page:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 10 s) until the text of the element matching `css` contains `needle`,
    /// finding the element again each time (a form posted without JavaScript loads a new
    /// page); answers that text.
    ///
    /// # Panics
    /// When it does not, with the page's text.
    pub async fn wait_for_text_in(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && text.contains(needle)
            {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {css}:\n{}",
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` in the page and answers its result.
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("running the script")
    }

    /// Saves a screenshot of the page as `<name>.png` in [`screenshot_dir`].
    pub async fn screenshot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("writing the screenshot");
    }

    /// Ends the session, then stops the driver and what it started.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop_group(&mut self.driver);
    }
}

/// Stops the process group led by `leader` (the driver and the browsers it started) with
/// SIGKILL, by its id, and reaps the leader.
fn stop_group(leader: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", leader.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = leader.kill();
    let _ = leader.wait();
}
