"""The dashboard in a real browser: a real `fedml server` (the built binary, embedded default) on
a free port, and Debian's headless Chromium driven through its ChromeDriver by selenium (nothing
downloads a browser). Screenshots of every page at 375 px and 1440 px go to
`target/dashboard-screenshots/` (or `FEDML_SCREENSHOTS`)."""

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from cargo_target import target_directory  # noqa: E402
from fedml_server import FedmlServer, free_port  # noqa: E402

import devassets  # noqa: E402

SHOTS = Path(os.environ.get("FEDML_SCREENSHOTS", target_directory() / "dashboard-screenshots"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WIDTHS = (375, 1440)


class Server(FedmlServer):
    """The real server; with `FEDML_DASHBOARD_ASSETS=1`, behind the proxy of `devassets` (the
    page from disk)."""

    def __init__(self, root: Path, env=None):
        self.proxy = None
        if os.environ.get("FEDML_DASHBOARD_ASSETS") == "1":
            port = free_port()
            super().__init__(root, env=dict(env or {}, FEDML_PUBLIC_URL=f"http://127.0.0.1:{port}"))
            self.proxy = devassets.start(port, self.port)
            self.url = f"http://127.0.0.1:{port}"
        else:
            super().__init__(root, env=env)

    def stop(self):
        if self.proxy:
            self.proxy.shutdown()
        super().stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("dashboard"))
    yield s
    s.stop()


class Browser:
    """One Chromium with its own profile and download folder, and the steps a person takes."""

    def __init__(self, server: Server, root: Path):
        self.server = server
        self.downloads = root / "downloads"
        self.downloads.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", f"--user-data-dir={root / 'profile'}", "--window-size=1440,1000"):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {
            "download.default_directory": str(self.downloads), "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        })
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(60)

    def open(self, fragment=""):
        """Loads the page afresh at `fragment` (as a person typing the address would)."""
        url = f"{self.server.url}/{fragment}"
        if self.driver.current_url == url:
            self.driver.refresh()
        else:
            self.driver.get(url)

    def find(self, css, timeout=20):
        return WebDriverWait(self.driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def visible(self, css, timeout=20):
        return WebDriverWait(self.driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def text_appears(self, css, text, timeout=30):
        WebDriverWait(self.driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def sign_in(self, key):
        self.open()
        field = self.visible("#api-key")
        field.clear()
        field.send_keys(key)
        self.driver.find_element(By.ID, "sign-in").click()

    def signed_in(self, key):
        self.sign_in(key)
        self.visible("#who-name")
        self.find("main h1")

    def sign_out(self):
        self.driver.find_element(By.ID, "sign-out").click()
        self.visible("#api-key")

    def screenshot(self, name):
        """The page at both widths, the whole height of what it shows."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            self.driver.set_window_size(width, 1000)
            time.sleep(0.3)
            height = self.driver.execute_script("return Math.max(document.body.scrollHeight, 600)")
            self.driver.set_window_size(width, min(int(height) + 40, 4000))
            time.sleep(0.2)
            self.driver.save_screenshot(str(SHOTS / f"{name}-{width}.png"))
        self.driver.set_window_size(1440, 1000)

    def console_errors(self):
        return [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def quit(self):
        self.driver.quit()


@pytest.fixture
def browser(server, tmp_path):
    b = Browser(server, tmp_path)
    yield b
    b.quit()


@pytest.fixture(scope="session", autouse=True)
def fresh_screenshots():
    shutil.rmtree(SHOTS, ignore_errors=True)
    yield
