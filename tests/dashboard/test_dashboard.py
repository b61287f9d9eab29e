"""The dashboard as a person uses it, in headless Chromium against the real server: sign-in with
good, bad and revoked keys; uploads of a file and a folder from the page (parts to signed URLs,
BLAKE3 in the page) checked by the CLI; downloads compared byte for byte; edit and delete;
a read-only key made in the page and used with the CLI; hostile names and metadata shown as text;
another user's objects never shown; the session's cookie, CSRF and origin rules; screenshots."""

import hashlib
import json
import os
import time
import urllib.error
import urllib.request

import blake3
from selenium.webdriver.common.by import By

from conftest import Server


def wait_for(predicate, timeout=30, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def http(method, url, headers=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def names(server, key=None):
    listed = server.cli_json("storage", "list", key=key)
    assert listed["code"] == "SUCCESS", listed
    return [o["dataName"] for o in listed["data"]]


def upload_in_page(browser, *, file=None, folder=None, name=None, description="", tags="", expect="Stored"):
    browser.open("#/upload")
    if file is not None:
        browser.find("#file-input").send_keys(str(file))
    else:
        browser.find("#folder-input").send_keys(str(folder))
    browser.text_appears("#chosen", "“")
    if name is not None:
        field = browser.driver.find_element(By.ID, "upload-name")
        field.clear()
        field.send_keys(name)
    browser.driver.find_element(By.ID, "upload-description").send_keys(description)
    browser.driver.find_element(By.ID, "upload-tags").send_keys(tags)
    browser.driver.find_element(By.ID, "start-upload").click()
    return browser.text_appears("#upload-status", expect, timeout=120)


def test_the_page_loads_with_a_strict_policy_and_no_errors(server, browser):
    status, headers, _ = http("GET", server.url + "/api/v1/health")
    assert status == 200
    with urllib.request.urlopen(server.url + "/") as response:
        csp = response.headers["Content-Security-Policy"]
        page = response.read().decode()
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in page.replace('<script type="module" src="/ui/app.js"></script>', "")
    total = 0
    for asset in ["", "ui/style.css", "ui/app.js", "ui/api.js", "ui/views.js", "ui/upload.js", "ui/blake3.js",
                  "ui/zip.js", "ui/shell.js", "ui/teams.js", "ui/versions.js", "ui/favicon.svg"]:
        with urllib.request.urlopen(f"{server.url}/{asset}") as response:
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            total += len(response.read())
    print(f"page weight: {total} bytes")
    assert total < 150_000
    browser.open()
    browser.visible("#api-key")
    browser.screenshot("signin")
    # The only console error allowed: the 401 of "who is signed in?" before anyone is.
    errors = [e for e in browser.console_errors() if "/api/v1/session" not in e["message"]]
    assert errors == []


def test_sign_in_with_a_bad_a_good_and_a_revoked_key(server, browser):
    browser.sign_in("fml_0000000000000000_" + "0" * 64)
    assert "not valid" in browser.text_appears(".signin .notice", "not valid")
    browser.sign_in("not even a key")
    browser.text_appears(".signin .notice", "not valid")

    key = server.new_user("carol")
    browser.signed_in(key)
    assert browser.driver.find_element(By.ID, "who-name").text == "carol"
    cookie = browser.driver.get_cookie("fedml_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # The key is in no storage the page's scripts can read.
    stored = browser.driver.execute_script(
        "return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])")
    assert key not in stored and "fml_" not in stored and "fedml_session" not in stored

    key_id = key.split("_")[1]
    server.admin("key", "revoke", key_id)
    browser.open("#/objects")
    browser.visible("#api-key")
    status, _, body = http("GET", server.url + "/api/v1/objects", {"Cookie": f"fedml_session={cookie['value']}"})
    assert status == 401 and "sign in again" in body["message"]
    browser.sign_in(key)
    assert "revoked" in browser.text_appears(".signin .notice", "revoked")


def test_upload_a_file_and_a_folder_then_download_them(server, browser, tmp_path):
    key = server.new_user("dora")
    browser.signed_in(key)
    data = os.urandom(20 * 1024 * 1024 + 12345)  # three parts of 8 MiB
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    upload_in_page(browser, file=source, description="first weights", tags="train, v1")
    browser.screenshot("upload-done")

    folder = tmp_path / "dataset"
    (folder / "train" / "deep").mkdir(parents=True)
    (folder / "train" / "a.csv").write_text("x,y\n1,2\n")
    (folder / "train" / "deep" / "b.bin").write_bytes(os.urandom(300_000))
    (folder / "README.md").write_text("ünïcödé ✓\n")
    upload_in_page(browser, folder=folder, tags="data")
    assert sorted(names(server, key)) == ["dataset", "weights.bin"]
    meta = server.cli_json("storage", "get-metadata", "weights.bin", key=key)["data"]
    assert meta["checksum"] == "blake3:" + blake3.blake3(data).hexdigest()
    assert meta["description"] == "first weights" and meta["tag_list"] if "tag_list" in meta else meta["tags"] == ["train", "v1"]

    # The CLI downloads and verifies what the page sent (BLAKE3 computed in the page).
    out = tmp_path / "cli"
    out.mkdir()
    for name in ("weights.bin", "dataset"):
        result = server.cli("storage", "download", name, "-d", str(out), key=key)
        assert result.returncode == 0, result.stderr
    assert (out / "weights.bin").read_bytes() == data
    for rel in ["train/a.csv", "train/deep/b.bin", "README.md"]:
        assert (out / "dataset" / rel).read_bytes() == (folder / rel).read_bytes(), rel

    # The listing, one object and its files; then the browser's own download.
    browser.open("#/objects")
    browser.text_appears("#objects", "weights.bin")
    browser.screenshot("objects")
    browser.open("#/object/dataset")
    listing = browser.text_appears("#file-list", "train/deep/b.bin")
    assert "README.md" in listing and "train/a.csv" in listing
    browser.screenshot("object-directory")
    browser.open("#/object/weights.bin")
    browser.visible("#download").click()
    done = wait_for(lambda: [p for p in browser.downloads.iterdir() if p.name == "weights.bin"], 60, "the download")
    wait_for(lambda: done[0].stat().st_size == len(data), 60, "the whole download")
    assert hashlib.sha256(done[0].read_bytes()).digest() == hashlib.sha256(data).digest()
    assert "fedml storage download weights.bin" in browser.find("#cli-snippet").text
    assert browser.find("#python-snippet").text == 'import fedml\nfedml.api.download("weights.bin")'
    browser.screenshot("object-file")


def overwrite_in_page(browser, source, *, clear=False):
    browser.open("#/upload")
    browser.find("#file-input").send_keys(str(source))
    browser.text_appears("#chosen", source.name)
    assert not browser.driver.find_element(By.ID, "upload-clear-empty").is_displayed(), "only for an overwrite"
    browser.driver.find_element(By.ID, "upload-overwrite").click()
    if clear:
        browser.visible("#upload-clear-empty").click()
    browser.driver.find_element(By.ID, "start-upload").click()
    browser.text_appears("#upload-status", "Stored", timeout=60)


def test_an_overwrite_keeps_what_is_left_empty_unless_asked_to_clear_it(server, browser, tmp_path):
    key = server.new_user("kit")
    source = tmp_path / "kept.txt"
    source.write_text("v1")
    made = server.cli_json("storage", "upload", str(source), "-d", "first", "-t", "a,b", "--user_metadata",
                           json.dumps({"k": "v"}), key=key)
    assert made["code"] == "SUCCESS", made

    def described():
        meta = server.cli_json("storage", "get-metadata", "kept.txt", key=key)["data"]
        user = server.cli_json("storage", "get-user-metadata", "kept.txt", key=key)["data"]
        return meta["version"], meta["description"], meta["tags"], user

    browser.signed_in(key)
    source.write_text("v2")
    overwrite_in_page(browser, source)
    assert described() == (2, "first", ["a", "b"], {"k": "v"}), "empty fields keep the version replaced's"
    browser.screenshot("upload-overwrite")
    source.write_text("v3")
    overwrite_in_page(browser, source, clear=True)
    assert described() == (3, "", [], {}), "cleared when asked"


def test_a_folder_upload_leaves_out_what_downloads_left_in_it(server, browser, tmp_path):
    key = server.new_user("liv")
    folder = tmp_path / "downloads"
    (folder / "sub").mkdir(parents=True)
    (folder / "data.csv").write_text("x\n")
    for own in (".fedml-download-0123456789abcdef", "sub/.fedml-partial-fedcba9876543210"):
        (folder / own).write_text("left by a download")
    (folder / ".fedml-notes").write_text("the user's")
    browser.signed_in(key)
    browser.open("#/upload")
    browser.find("#folder-input").send_keys(str(folder))
    assert "2 files" in browser.text_appears("#chosen", "“")
    browser.driver.find_element(By.ID, "start-upload").click()
    browser.text_appears("#upload-status", "Stored", timeout=60)
    listed = server.cli_json("storage", "ls", "downloads", "-r", key=key)
    assert listed["code"] == "SUCCESS", listed
    files = sorted(e["path"] for e in listed["data"] if e["kind"] == "file")
    assert files == [".fedml-notes", "data.csv"], files


def test_cancelling_an_upload_stores_nothing_and_leaves_no_session(server, browser, tmp_path):
    key = server.new_user("erin")
    browser.signed_in(key)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB of zeros: read from disk, sent part by part
    browser.open("#/upload")
    browser.find("#file-input").send_keys(str(big))
    browser.text_appears("#chosen", "big.bin")
    browser.driver.find_element(By.ID, "start-upload").click()
    browser.text_appears("#upload-rate", "sent of", timeout=60)
    browser.visible("#cancel-upload").click()
    browser.text_appears("#upload-status", "cancelled", timeout=60)
    assert "big.bin" not in names(server, key)
    metrics = urllib.request.urlopen(server.url + "/metrics").read().decode()
    live = [line for line in metrics.splitlines() if line.startswith("fedml_uploads_in_flight")]
    assert live and all(line.split()[-1] in ("0", "0.0") for line in live), live


def test_edit_then_delete(server, browser, tmp_path):
    key = server.new_user("fay")
    (tmp_path / "notes.txt").write_text("hello")
    assert server.cli("storage", "upload", str(tmp_path / "notes.txt"), "-d", "old", key=key).returncode == 0
    browser.signed_in(key)
    browser.open("#/object/notes.txt")
    description = browser.visible("#edit-description")
    description.clear()
    description.send_keys("new description")
    tags = browser.driver.find_element(By.ID, "edit-tags")
    tags.clear()
    tags.send_keys("a, b")
    browser.driver.find_element(By.CSS_SELECTOR, "#edit .kv > button").click()
    row = browser.driver.find_elements(By.CSS_SELECTOR, "#edit .kv-row")[-1]
    k, v = row.find_elements(By.TAG_NAME, "input")
    k.send_keys("owner")
    v.send_keys("team ünï")
    browser.driver.find_element(By.ID, "save").click()
    browser.text_appears("main .notice.ok", "Saved")
    meta = server.cli_json("storage", "get-metadata", "notes.txt", key=key)["data"]
    assert meta["description"] == "new description"
    assert server.cli_json("storage", "get-user-metadata", "notes.txt", key=key)["data"] == {"owner": "team ünï"}
    browser.screenshot("object-edited")

    browser.driver.find_element(By.ID, "delete").click()
    dialog = browser.visible("dialog.confirm")
    browser.screenshot("delete-confirm")
    dialog.find_element(By.CSS_SELECTOR, "button.secondary").click()  # cancel first: nothing happens
    assert "notes.txt" in names(server, key)
    browser.driver.find_element(By.ID, "delete").click()
    browser.visible("dialog.confirm button.danger").click()
    browser.text_appears("main .notice.ok", "Deleted")
    assert "notes.txt" not in names(server, key)


def test_names_with_slashes_open_download_and_clash(server, browser, tmp_path):
    key = server.new_user("gil")
    (tmp_path / "x.bin").write_bytes(b"x" * 1000)
    assert server.cli("storage", "upload", str(tmp_path / "x.bin"), "-n", "team/data/x.bin", key=key).returncode == 0
    browser.signed_in(key)
    browser.open("#/objects")
    link = browser.visible("td.name a")
    assert link.text == "team/data/x.bin"
    assert link.get_attribute("href").endswith("#/object/team%2Fdata%2Fx.bin")
    link.click()
    browser.text_appears("main h1", "team/data/x.bin")
    # The browser saves it under the name's last part.
    assert browser.visible("#download").get_attribute("download") == "x.bin"
    description = browser.visible("#edit-description")
    description.clear()
    description.send_keys("edited")
    browser.driver.find_element(By.ID, "save").click()
    browser.text_appears("main .notice.ok", "Saved")
    assert server.cli_json("storage", "get-metadata", "team/data/x.bin", key=key)["data"]["description"] == "edited"
    # A name cannot be both data and a folder of names: the page says so, nothing is stored.
    upload_in_page(browser, file=tmp_path / "x.bin", name="team/data", expect="folder")
    assert names(server, key) == ["team/data/x.bin"]
    upload_in_page(browser, file=tmp_path / "x.bin", name="team/y.bin")
    assert sorted(names(server, key)) == ["team/data/x.bin", "team/y.bin"]


def test_a_read_only_key_made_in_the_page_works_with_the_cli(server, browser, tmp_path):
    key = server.new_user("gus")
    (tmp_path / "m.txt").write_text("model")
    assert server.cli("storage", "upload", str(tmp_path / "m.txt"), key=key).returncode == 0
    browser.signed_in(key)
    browser.open("#/keys")
    browser.visible("#key-label").send_keys("ci reader")
    browser.driver.find_element(By.ID, "key-read-only").click()
    browser.driver.find_element(By.ID, "create-key-button").click()
    made = browser.visible("#new-key-value").text
    assert made.startswith("fml_")
    browser.screenshot("keys")
    listed = server.cli_json("storage", "list", key=made)
    assert listed["code"] == "SUCCESS" and [o["dataName"] for o in listed["data"]] == ["m.txt"]
    refused = server.cli_json("storage", "upload", str(tmp_path / "m.txt"), "-n", "other", key=made)
    assert refused["code"] == "FAILURE" and "read-only" in refused["message"]

    # Signed in with it, the dashboard is read-only: no upload, no edit, no delete, no key making.
    browser.sign_out()
    browser.signed_in(made)
    assert browser.driver.find_element(By.ID, "who-access").text == "read-only"
    assert not browser.driver.find_element(By.CSS_SELECTOR, "nav [data-view=upload]").is_displayed()
    browser.open("#/object/m.txt")
    browser.visible("#download")
    assert browser.driver.find_elements(By.ID, "edit") == [] and browser.driver.find_elements(By.ID, "delete") == []
    browser.open("#/keys")
    browser.find("#keys")
    assert browser.driver.find_elements(By.ID, "create-key") == []
    browser.screenshot("read-only")


HOSTILE = [
    '<script>window.__xss = 1</script>',
    '"><img src=x onerror="window.__xss = 2">',
    "Ünïcødé 数据 🚀 ‮rtl",
]


def test_hostile_names_and_metadata_are_shown_as_text(server, browser, tmp_path):
    key = server.new_user("hal")
    (tmp_path / "f.txt").write_text("x")
    stored = []
    for i, text in enumerate(HOSTILE):
        name = f"obj{i} {text}".replace("/", "-")
        result = server.cli_json("storage", "upload", str(tmp_path / "f.txt"), "-n", name, "-d", text, "-t", text.replace(",", " "),
                                 "--user_metadata", json.dumps({text: text}), key=key)
        if result["code"] == "SUCCESS":
            stored.append((name, text))
        else:
            # The name rules refuse some characters (e.g. bidirectional controls): say which.
            print(f"refused {name!r}: {result['message']}")
    assert len(stored) >= 2, stored
    browser.signed_in(key)
    browser.open("#/objects")
    table = browser.text_appears("#objects", "obj0")
    for name, _ in stored:
        assert name in table
    browser.screenshot("hostile-list")
    for name, text in stored:
        browser.open(f"#/object/{urllib.request.quote(name, safe='')}")
        browser.text_appears("#user-metadata", text[:10])
        assert browser.find("main h1").text == name
    browser.screenshot("hostile-object")
    assert browser.driver.execute_script("return window.__xss === undefined")
    # Invisible and control characters, which names may not hold but descriptions and metadata
    # values may, are shown as escapes (as the CLI shows them); the edit form keeps them exact.
    spoof = "invoice\u202egpj.exe \x1b[31mred"
    result = server.cli_json("storage", "upload", str(tmp_path / "f.txt"), "-n", "spoof", "-d", spoof,
                             "--user_metadata", json.dumps({"k": spoof}), key=key)
    assert result["code"] == "SUCCESS", result
    browser.open("#/object/spoof")
    shown = browser.text_appears("main dl.meta", "invoice")
    assert "invoice\\u{202e}gpj.exe \\x1b[31mred" in shown, shown
    assert "\u202e" not in shown and "\x1b" not in shown
    assert "\\u{202e}" in browser.find("#user-metadata").text
    assert browser.find("#edit-description").get_attribute("value") == spoof
    browser.screenshot("invisible-escaped")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "main img") == []


def test_another_users_objects_are_never_shown(server, browser, tmp_path):
    owner = server.new_user("ivy")
    other = server.new_user("jon")
    (tmp_path / "ivy-secret.bin").write_bytes(b"secret")
    assert server.cli("storage", "upload", str(tmp_path / "ivy-secret.bin"), key=owner).returncode == 0
    browser.signed_in(other)
    browser.open("#/objects")
    browser.text_appears("main", "Nothing stored yet")
    browser.open("#/objects?q=secret")
    browser.text_appears("main", "Nothing matches")
    browser.open("#/object/ivy-secret.bin")
    assert "no data named" in browser.text_appears("main .notice.error", "no data named")
    assert "secret" not in browser.driver.find_element(By.ID, "main").text.replace("ivy-secret.bin", "")
    # Not an administrator: the users page is refused.
    browser.open("#/admin")
    browser.text_appears("main .notice.error", "only administrators")


def test_the_admin_sees_users_and_their_keys(server, browser):
    server.new_user("kim")
    browser.signed_in(server.admin_key)
    browser.visible("nav [data-view=admin]").click()
    table = browser.text_appears("#users", "kim")
    assert "admin" in table
    browser.screenshot("admin-users")
    browser.driver.find_element(By.LINK_TEXT, "kim").click()
    browser.text_appears("#keys", "read-write")
    browser.screenshot("admin-user-keys")


def test_search_sort_and_pages(server, browser, tmp_path):
    key = server.new_user("lou")
    for i in range(60):
        path = tmp_path / f"item-{i:03}.bin"
        path.write_bytes(b"x" * (i * 10 + 1))
        tag = "even" if i % 2 == 0 else "odd"
        assert server.cli("storage", "upload", str(path), "-t", tag, "--no-progress", key=key).returncode == 0
    browser.signed_in(key)
    browser.open("#/objects")
    assert "1–50 of 60" in browser.text_appears("#page-info", "of 60")
    browser.driver.find_element(By.XPATH, "//button[text()='Next']").click()
    assert "51–60 of 60" in browser.text_appears("#page-info", "51–60")
    browser.open("#/objects?sort=size")
    first = browser.find("#objects tbody tr td a")
    wait_for(lambda: browser.find("#objects tbody tr td a").text == "item-059.bin", 10, "largest first")
    browser.open("#/objects?q=odd")
    assert "of 30" in browser.text_appears("#page-info", "of 30")
    assert first is not None


def test_session_cookie_csrf_and_origin_rules(server, browser, tmp_path):
    key = server.new_user("max")
    (tmp_path / "n.txt").write_text("n")
    assert server.cli("storage", "upload", str(tmp_path / "n.txt"), key=key).returncode == 0
    browser.signed_in(key)
    token = browser.driver.get_cookie("fedml_session")["value"]
    session = http("GET", server.url + "/api/v1/session", {"Cookie": f"fedml_session={token}"})[2]["data"]
    csrf = session["csrf_token"]
    url = server.url + "/api/v1/objects/n.txt"
    cookie = {"Cookie": f"fedml_session={token}"}
    status, _, body = http("PATCH", url, cookie, {"description": "x"})
    assert status == 403 and "CSRF" in body["message"]
    status, _, body = http("PATCH", url, {**cookie, "X-CSRF-Token": "0" * 64}, {"description": "x"})
    assert status == 403
    status, _, body = http("PATCH", url, {**cookie, "X-CSRF-Token": csrf, "Origin": "http://evil.example"}, {"description": "x"})
    assert status == 403 and "another site" in body["message"]
    status, _, body = http("PATCH", url, {**cookie, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}, {"description": "x"})
    assert status == 403
    status, _, body = http("PATCH", url, {**cookie, "X-CSRF-Token": csrf, "Origin": server.url}, {"description": "ok"})
    assert status == 200 and body["data"]["description"] == "ok"
    # Sign-out ends the session for every copy of its cookie.
    browser.sign_out()
    assert http("GET", server.url + "/api/v1/objects", cookie)[0] == 401
    assert browser.driver.get_cookie("fedml_session") is None


def test_failed_sign_ins_are_rate_limited(tmp_path):
    own = Server(tmp_path)
    try:
        answers = [http("POST", own.url + "/api/v1/session", {}, {"api_key": "fml_bad"})[0] for _ in range(12)]
        assert answers[:10] == [401] * 10 and answers[10:] == [429, 429], answers
        status, headers, body = http("POST", own.url + "/api/v1/session", {}, {"api_key": own.admin_key})
        assert status == 429 and int({k.lower(): v for k, v in headers.items()}["retry-after"]) >= 1 and "wait" in body["message"]
    finally:
        own.stop()


def test_blake3_in_the_page_matches_the_reference(server, browser):
    browser.open()
    browser.visible("#api-key")
    for n in [0, 1, 64, 1023, 1024, 1025, 4096, 100_000, 3_000_000]:
        got = browser.driver.execute_async_script(
            """const [n, done] = arguments;
               import('/ui/blake3.js').then(({ blake3Hex }) => {
                 const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = i % 251;
                 done(blake3Hex(b)); });""", n)
        assert got == blake3.blake3(bytes(i % 251 for i in range(n))).hexdigest(), n
