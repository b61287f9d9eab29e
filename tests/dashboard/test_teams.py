"""Teams in the dashboard, in headless Chromium against the real server: the namespace switcher
(an organisation's objects, uploads and edits there, kept across a reload, an unknown one
refused), a reader's page without write actions, organisations (create, members added, their
role changed, removed, the organisation deleted with its objects), share links (from an object
and from a version, used with no key, listed, revoked), the audit log with older pages, keys
scoped to namespaces, an object's versions (list, compare, download, remove) and usage.
Everything the page does is checked through the API with the users' own keys."""

import json
import os
import urllib.error
import urllib.request

import blake3
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_dashboard import http, wait_for


# ---------------------------------------------------------------- through the API


def api(server, key, method, path, body=None):
    """One native API call with a key: (HTTP status, envelope)."""
    status, _, envelope = http(method, server.url + path, {"Authorization": f"Bearer {key}"}, body)
    return status, envelope


def ok(server, key, method, path, body=None):
    status, envelope = api(server, key, method, path, body)
    assert status == 200 and envelope["code"] == "SUCCESS", (method, path, status, envelope)
    return envelope["data"]


def put_object(server, key, name, data, namespace=None, overwrite=False, description=None):
    """Stores `data` under `name` as a client does (session, part to its signed URL, completion)."""
    service = ok(server, key, "GET", "/api/v1/whoami")["default_service"]
    body = {"name": name, "service": service, "kind": "file", "size": len(data), "overwrite": overwrite}
    if namespace:
        body["namespace"] = namespace
    if description is not None:
        body["description"] = description
    session = ok(server, key, "POST", "/api/v1/uploads", body)
    assert len(data) <= session["part_size"]
    upload = session["upload_id"]
    [part] = ok(server, key, "POST", f"/api/v1/uploads/{upload}/parts", {"first": 1, "count": 1})
    request = urllib.request.Request(part["url"], data=data, method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        etag = response.headers["ETag"]
    done = ok(server, key, "POST", f"/api/v1/uploads/{upload}/complete", {
        "parts": [{"part_number": 1, "etag": etag}], "size": len(data),
        "checksum": "blake3:" + blake3.blake3(data).hexdigest()})
    return done["object"]


def listed(server, key, namespace=None):
    path = "/api/v1/objects?limit=1000" + (f"&namespace={namespace}" if namespace else "")
    return sorted(o["dataName"] for o in ok(server, key, "GET", path)["objects"])


def make_org(server, key, name, members=()):
    ok(server, key, "POST", "/api/v1/orgs", {"name": name})
    for user, role in members:
        ok(server, key, "PUT", f"/api/v1/orgs/{name}/members/{user}", {"role": role})


def fetch(url, headers=None):
    """A plain GET with no key: (status, body bytes)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ---------------------------------------------------------------- in the page


def switch_to(browser, namespace):
    Select(browser.visible("#namespace")).select_by_value(namespace)
    wait_for(lambda: f"ns={namespace}" in browser.driver.current_url or namespace not in browser.driver.current_url,
             10, "the address to follow the switch")


def confirm(browser, typed=None):
    dialog = browser.visible("dialog.confirm")
    if typed is not None:
        dialog.find_element(By.ID, "confirm-typed").send_keys(typed)
    dialog.find_element(By.ID, "confirm-ok").click()
    wait_for(lambda: not browser.driver.find_elements(By.CSS_SELECTOR, "dialog.confirm[open]"), 10, "the dialog to close")


def row(browser, table_css, attr, value):
    return browser.find(f"{table_css} tr[{attr}='{value}']")


def visible_ids(browser, *ids):
    return {i for i in ids if any(e.is_displayed() for e in browser.driver.find_elements(By.ID, i))}


def nav_shown(browser, view):
    return browser.driver.find_element(By.CSS_SELECTOR, f"nav [data-view={view}]").is_displayed()


# ---------------------------------------------------------------- the tests


def test_the_namespace_switcher_shows_an_organisations_objects_and_works_there(server, browser, tmp_path):
    olga = server.new_user("olga")
    make_org(server, olga, "vision")
    put_object(server, olga, "own.txt", b"mine")
    put_object(server, olga, "team-data.bin", b"the team's", namespace="vision")
    browser.signed_in(olga)
    browser.open("#/objects")
    assert "own.txt" in browser.text_appears("#objects", "own.txt")
    assert "team-data.bin" not in browser.find("#objects").text
    options = [o.get_attribute("value") for o in browser.find("#namespace").find_elements(By.TAG_NAME, "option")]
    assert options == ["olga", "vision"], options

    switch_to(browser, "vision")
    assert "team-data.bin" in browser.text_appears("#objects", "team-data.bin")
    assert "own.txt" not in browser.find("#objects").text
    assert browser.find("main h1").text == "Objects in vision"
    assert "?ns=vision" in browser.driver.current_url
    assert browser.find("#ns-role").text == "admin"
    browser.text_appears("#usage", "1 object")
    browser.screenshot("namespace-switch")

    # A reload keeps the namespace.
    browser.driver.refresh()
    browser.text_appears("#objects", "team-data.bin")
    assert Select(browser.find("#namespace")).first_selected_option.get_attribute("value") == "vision"

    # One object of the organisation: its details, the snippets name the namespace, an edit.
    browser.driver.find_element(By.LINK_TEXT, "team-data.bin").click()
    browser.text_appears("main dl.meta", "vision")
    assert "--namespace vision" in browser.find("#cli-snippet").text
    assert 'namespace="vision"' in browser.find("#python-snippet").text
    description = browser.visible("#edit-description")
    description.clear()
    description.send_keys("edited in the team")
    browser.driver.find_element(By.ID, "save").click()
    browser.text_appears("main .notice.ok", "Saved")
    meta = ok(server, olga, "GET", "/api/v1/objects/team-data.bin?namespace=vision")
    assert meta["description"] == "edited in the team"

    # An upload from the page goes to the namespace chosen.
    source = tmp_path / "uploaded-here.bin"
    source.write_bytes(os.urandom(100_000))
    browser.open("?ns=vision#/upload")
    assert browser.find("main h1").text == "Upload to vision"
    browser.find("#file-input").send_keys(str(source))
    browser.text_appears("#chosen", "“")
    browser.driver.find_element(By.ID, "start-upload").click()
    browser.text_appears("#upload-status", "Stored", timeout=60)
    assert listed(server, olga, "vision") == ["team-data.bin", "uploaded-here.bin"]
    assert listed(server, olga) == ["own.txt"]

    # Delete in the organisation.
    browser.open("?ns=vision#/object/uploaded-here.bin")
    browser.visible("#delete").click()
    confirm(browser)
    browser.text_appears("main .notice.ok", "Deleted")
    assert "?ns=vision" in browser.driver.current_url
    assert listed(server, olga, "vision") == ["team-data.bin"]

    # Back to one's own.
    switch_to(browser, "olga")
    browser.text_appears("#objects", "own.txt")
    assert browser.find("main h1").text == "Your objects"
    assert "ns=" not in browser.driver.current_url

    # A namespace one may not use is said so, and one's own is shown.
    browser.open("?ns=nobody-here#/objects")
    assert "nobody-here" in browser.text_appears("main .notice.error", "nobody-here")
    browser.text_appears("#objects", "own.txt")
    # The only console errors allowed: the 401 of "who is signed in?" before anyone is.
    assert [e for e in browser.console_errors() if "/api/v1/session" not in e["message"]] == []


def test_a_reader_sees_no_upload_share_edit_or_delete(server, browser):
    rita = server.new_user("rita")
    rob = server.new_user("rob")
    make_org(server, rita, "readers-org", [("rob", "reader")])
    put_object(server, rita, "handbook.txt", b"read me", namespace="readers-org")
    put_object(server, rita, "handbook.txt", b"read me, v2", namespace="readers-org", overwrite=True)
    browser.signed_in(rob)
    browser.open("?ns=readers-org#/objects")
    browser.text_appears("#objects", "handbook.txt")
    assert browser.find("#ns-role").text == "reader"
    assert not nav_shown(browser, "upload") and not nav_shown(browser, "links") and not nav_shown(browser, "log")
    assert nav_shown(browser, "objects") and nav_shown(browser, "orgs")
    browser.screenshot("reader-objects")

    browser.open("?ns=readers-org#/object/handbook.txt")
    browser.visible("#download")
    browser.text_appears("#version-list", "v2")
    assert visible_ids(browser, "edit", "delete", "share") == set()
    assert browser.driver.find_elements(By.CSS_SELECTOR, ".version-remove, .version-share") == []
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, ".version-download")) == 2
    browser.screenshot("reader-object")

    # The upload page is not offered even by its address; the server refuses a write anyway.
    browser.open("?ns=readers-org#/upload")
    browser.text_appears("#objects", "handbook.txt")
    assert browser.driver.find_elements(By.ID, "upload-form") == []
    status, envelope = api(server, rob, "DELETE", "/api/v1/objects/handbook.txt?namespace=readers-org")
    assert status == 403 and envelope["code"] == "FAILURE"

    # Removed while the page works in the organisation: the next page says so and shows their own.
    browser.open("?ns=readers-org#/objects")
    browser.text_appears("#objects", "handbook.txt")
    ok(server, rita, "DELETE", "/api/v1/orgs/readers-org/members/rob")
    browser.driver.execute_script("location.hash = '#/object/handbook.txt'")
    assert "readers-org" in browser.text_appears("main .notice.error", "readers-org")
    assert "ns=" not in browser.driver.current_url
    assert [o.get_attribute("value") for o in browser.find("#namespace").find_elements(By.TAG_NAME, "option")] == ["rob"]

    # In their own namespace the same user may do everything.
    browser.open("#/objects")
    wait_for(lambda: browser.find("#ns-role").text == "owner", 10, "the owner's role")
    assert nav_shown(browser, "upload")


def test_organisations_members_are_added_changed_and_removed_and_an_organisation_deleted(server, browser):
    ada = server.new_user("ada")
    bea = server.new_user("bea")
    browser.signed_in(ada)
    browser.open("#/orgs")
    browser.visible("#no-orgs")
    browser.visible("#org-name").send_keys("lab")
    browser.driver.find_element(By.ID, "create-org-button").click()
    browser.text_appears("main .notice.ok", "Created the organisation")
    assert browser.find("main h1").text == "lab"
    ada_row = row(browser, "#members", "data-user", "ada")
    # The only admin can be neither removed nor demoted (the server refuses it too).
    assert ada_row.find_elements(By.CSS_SELECTOR, ".member-remove") == []
    assert not ada_row.find_element(By.CSS_SELECTOR, "select.member-role").is_enabled()
    assert [o["name"] for o in ok(server, ada, "GET", "/api/v1/orgs")] == ["lab"]
    # The switcher learned it at once.
    wait_for(lambda: "lab" in [o.get_attribute("value") for o in browser.find("#namespace").find_elements(By.TAG_NAME, "option")],
             10, "the new organisation in the switcher")

    # Add bea as a writer.
    browser.visible("#member-user").send_keys("bea")
    Select(browser.driver.find_element(By.ID, "member-role")).select_by_value("writer")
    browser.driver.find_element(By.ID, "add-member-button").click()
    browser.text_appears("main .notice.ok", "Added bea")
    bea_row = row(browser, "#members", "data-user", "bea")
    assert Select(bea_row.find_element(By.CSS_SELECTOR, "select.member-role")).first_selected_option.text == "writer"
    assert "ada" in bea_row.text  # added by
    members = {m["user"]: m for m in ok(server, ada, "GET", "/api/v1/orgs/lab/members")}
    assert members["bea"]["role"] == "writer" and members["bea"]["added_by"] == "ada"
    assert ok(server, bea, "GET", "/api/v1/objects?namespace=lab")["objects"] == []

    # Someone who does not exist is refused, and said so.
    browser.visible("#member-user").send_keys("nobody-at-all")
    browser.driver.find_element(By.ID, "add-member-button").click()
    browser.text_appears("#add-member .notice.error", "nobody-at-all")

    # Change bea's role to reader from the table.
    Select(row(browser, "#members", "data-user", "bea").find_element(By.CSS_SELECTOR, "select.member-role")).select_by_value("reader")
    browser.text_appears("main .notice.ok", "bea is now a reader")
    members = {m["user"]: m for m in ok(server, ada, "GET", "/api/v1/orgs/lab/members")}
    assert members["bea"]["role"] == "reader"
    browser.screenshot("org-members")

    # Remove bea: her access ends at once.
    row(browser, "#members", "data-user", "bea").find_element(By.CSS_SELECTOR, ".member-remove").click()
    confirm(browser)
    browser.text_appears("main .notice.ok", "Removed bea")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#members tr[data-user='bea']") == []
    status, envelope = api(server, bea, "GET", "/api/v1/objects?namespace=lab")
    assert status == 404 and envelope["code"] == "FAILURE", (status, envelope)

    # Delete the organisation while it holds an object: the dialog says so and wants its name.
    put_object(server, ada, "experiment.bin", b"results", namespace="lab")
    browser.open("#/org/lab")
    browser.text_appears("#delete-org-card", "1 object")
    browser.visible("#delete-org").click()
    dialog = browser.visible("dialog.confirm")
    assert "holds 1 object" in dialog.text
    assert not dialog.find_element(By.ID, "confirm-ok").is_enabled()
    browser.screenshot("org-delete-confirm")
    confirm(browser, typed="lab")
    browser.text_appears("main .notice.ok", "Deleted the organisation")
    assert ok(server, ada, "GET", "/api/v1/orgs") == []
    status, _ = api(server, ada, "GET", "/api/v1/objects?namespace=lab")
    assert status == 404


def test_a_member_who_is_not_an_admin_sees_members_but_cannot_manage_them(server, browser):
    cleo = server.new_user("cleo")
    dan = server.new_user("dan")
    make_org(server, cleo, "studio", [("dan", "writer")])
    browser.signed_in(dan)
    browser.open("#/orgs")
    browser.text_appears("#orgs", "studio")
    assert "writer" in row(browser, "#orgs", "data-org", "studio").text
    browser.open("#/org/studio")
    browser.text_appears("#members", "cleo")
    assert browser.driver.find_elements(By.ID, "add-member") == []
    assert browser.driver.find_elements(By.ID, "delete-org") == []
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#members select") == []
    # Only one's own row can be left.
    assert row(browser, "#members", "data-user", "cleo").find_elements(By.CSS_SELECTOR, ".member-remove") == []
    row(browser, "#members", "data-user", "dan").find_element(By.CSS_SELECTOR, ".member-remove").click()
    confirm(browser)
    browser.text_appears("main .notice.ok", "You left studio")
    assert [m["user"] for m in ok(server, cleo, "GET", "/api/v1/orgs/studio/members")] == ["cleo"]
    options = [o.get_attribute("value") for o in browser.find("#namespace").find_elements(By.TAG_NAME, "option")]
    assert options == ["dan"], options


def test_share_links_from_an_object_and_a_version_are_used_listed_and_revoked(server, browser):
    sam = server.new_user("sam")
    first = os.urandom(50_000)
    second = os.urandom(60_000)
    put_object(server, sam, "shared.bin", first)
    put_object(server, sam, "shared.bin", second, overwrite=True)
    browser.signed_in(sam)
    browser.open("#/object/shared.bin")
    browser.visible("#share").click()
    Select(browser.visible("#share-expiry")).select_by_visible_text("1 day")
    browser.screenshot("share-dialog")
    browser.driver.find_element(By.ID, "share-create").click()
    latest_url = browser.visible("#share-url").text
    assert "/s/" in latest_url, latest_url
    assert "expires" in browser.find("dialog .notice.ok").text
    browser.screenshot("share-created")
    browser.driver.find_element(By.ID, "share-close").click()
    assert fetch(latest_url) == (200, second)

    # A link to version 1, from its row.
    browser.find("#version-list tr[data-version='1'] .version-share").click()
    assert "v1" in browser.visible("#modal-title").text
    browser.driver.find_element(By.ID, "share-create").click()
    browser.find("#share-url, #share-status .notice.error")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#share-status .notice.error") == [], browser.find("#share-status").text
    version_url = browser.visible("#share-url").text
    browser.driver.find_element(By.ID, "share-close").click()
    assert version_url != latest_url
    assert fetch(version_url) == (200, first)

    # The links page: both, with what they point at and how often they were used.
    browser.visible("nav [data-view=links]").click()
    table = browser.text_appears("#shares", "shared.bin")
    shares = ok(server, sam, "GET", "/api/v1/shares")
    assert len(shares) == 2
    for s in shares:
        line = row(browser, "#shares", "data-share", s["id"]).text
        assert ("v1" if s["version"] == 1 else "latest") in line and "sam" in line
        assert s["uses"] >= 1
    assert "v1" in table and "latest" in table
    browser.screenshot("share-links")

    # Revoke the version's link: it answers 404 at once, the other still works.
    [version_share] = [s for s in shares if s["version"] == 1]
    row(browser, "#shares", "data-share", version_share["id"]).find_element(By.CSS_SELECTOR, ".share-revoke").click()
    confirm(browser)
    browser.text_appears("main .notice.ok", "Revoked link")
    assert browser.driver.find_elements(By.CSS_SELECTOR, f"#shares tr[data-share='{version_share['id']}']") == []
    assert fetch(version_url)[0] == 404
    assert fetch(latest_url) == (200, second)


def test_the_audit_log_shows_what_was_done_with_older_pages(server, browser):
    lea = server.new_user("lea")
    server.new_user("max2")
    make_org(server, lea, "auditors", [("max2", "reader")])
    put_object(server, lea, "ledger.csv", b"a,b\n", namespace="auditors")
    ok(server, lea, "POST", "/api/v1/shares", {"name": "ledger.csv", "namespace": "auditors", "expires_in": 3600})
    browser.signed_in(lea)
    browser.open("?ns=auditors#/objects")
    browser.visible("nav [data-view=log]").click()
    table = browser.text_appears("#log", "ledger.csv")
    for action in ("org-create", "member-add", "upload", "share"):
        assert action in table, action
    assert "lea" in table and "max2" in table
    browser.screenshot("audit-log")

    # An action in the page appears in the log.
    browser.open("?ns=auditors#/object/ledger.csv")
    description = browser.visible("#edit-description")
    description.send_keys("checked")
    browser.driver.find_element(By.ID, "save").click()
    browser.text_appears("main .notice.ok", "Saved")
    browser.open("?ns=auditors#/log")
    first = browser.find("#log tbody tr")
    wait_for(lambda: browser.find("#log tbody tr").get_attribute("data-action") == "edit", 10, "the edit, newest first")
    assert first is not None

    # More than a page: "Older entries" brings the rest.
    for i in range(55):
        ok(server, lea, "PATCH", "/api/v1/objects/ledger.csv?namespace=auditors", {"description": f"pass {i}"})
    total = len(ok(server, lea, "GET", "/api/v1/log?namespace=auditors&limit=1000")["entries"])
    assert total == 60  # org-create, member-add, upload, share, the page's edit, 55 edits
    browser.open("?ns=auditors#/log")
    browser.text_appears("#log-info", "50 entries")
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "#log tbody tr")) == 50
    browser.visible("#log-older").click()
    wait_for(lambda: len(browser.driver.find_elements(By.CSS_SELECTOR, "#log tbody tr")) > 50, 10, "older entries")
    while browser.driver.find_element(By.ID, "log-older").is_displayed():
        count = len(browser.driver.find_elements(By.CSS_SELECTOR, "#log tbody tr"))
        browser.driver.find_element(By.ID, "log-older").click()
        wait_for(lambda: len(browser.driver.find_elements(By.CSS_SELECTOR, "#log tbody tr")) > count
                 or not browser.driver.find_element(By.ID, "log-older").is_displayed(), 10, "the next page")
    ids = [tr.get_attribute("data-action") for tr in browser.driver.find_elements(By.CSS_SELECTOR, "#log tbody tr")]
    assert len(ids) == total and ids[-1] == "org-create", ids[-3:]

    # A reader sees no log in the menu, and the server refuses it.
    status, _ = api(server, server.new_key("max2"), "GET", "/api/v1/log?namespace=auditors")
    assert status in (403, 404)


def test_a_key_scoped_to_a_namespace_and_read_only_is_made_in_the_page(server, browser, tmp_path):
    kai = server.new_user("kai")
    make_org(server, kai, "kai-team")
    put_object(server, kai, "team.bin", b"team bytes", namespace="kai-team")
    put_object(server, kai, "private.bin", b"mine only")
    browser.signed_in(kai)
    browser.open("#/keys")
    browser.visible("#key-label").send_keys("training job")
    browser.driver.find_element(By.ID, "key-read-only").click()
    box = browser.driver.find_element(By.CSS_SELECTOR, "#key-scope input.key-ns[value='kai-team']")
    box.click()
    browser.driver.find_element(By.ID, "create-key-button").click()
    made = browser.visible("#new-key-value").text
    assert made.startswith("fml_")
    assert "limited to kai-team" in browser.find("#new-key .notice.ok").text
    key_id = made.split("_")[1]
    scoped_row = [tr for tr in browser.driver.find_elements(By.CSS_SELECTOR, "#keys tbody tr") if key_id in tr.text][0]
    assert "kai-team" in scoped_row.text and "read-only" in scoped_row.text
    assert not box.is_selected()
    browser.screenshot("keys-scoped")

    [info] = [k for k in ok(server, kai, "GET", "/api/v1/keys") if k["id"] == key_id]
    assert info["namespaces"] == ["kai-team"] and info["read_only"]
    # It reads the team's data and nothing else, and writes nothing.
    assert listed(server, made, "kai-team") == ["team.bin"]
    status, _ = api(server, made, "GET", "/api/v1/objects")
    assert status in (403, 404)
    status, _ = api(server, made, "DELETE", "/api/v1/objects/team.bin?namespace=kai-team")
    assert status == 403
    # An unscoped key says so.
    browser.find("#keys")
    assert "all" in [tr for tr in browser.driver.find_elements(By.CSS_SELECTOR, "#keys tbody tr") if "this session" in tr.text][0].text


def test_versions_are_listed_compared_downloaded_and_removed(server, browser, tmp_path):
    vera = server.new_user("vera")
    base = os.urandom(3_000_000)
    v1 = base
    v2 = base + os.urandom(500_000)
    v3 = os.urandom(300_000)
    source = tmp_path / "model.bin"
    for i, data in enumerate((v1, v2, v3)):
        # The CLI's chunked uploads: v2 shares most of v1's chunks.
        source.write_bytes(data)
        args = ["storage", "upload", str(source), "-d", f"version {i + 1}", "--no-progress"] + (["--overwrite"] if i else [])
        result = server.cli(*args, key=vera)
        assert result.returncode == 0, result.stderr
    browser.signed_in(vera)
    browser.open("#/object/model.bin")
    table = browser.text_appears("#version-list", "v3")
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#version-list tbody tr")
    assert [r.get_attribute("data-version") for r in rows] == ["3", "2", "1"]
    assert "latest" in rows[0].text and "latest" not in rows[1].text
    assert "version 2" in table

    # Compare v1 with v2 as the server counts it.
    Select(browser.find("#diff-from")).select_by_value("1")
    Select(browser.find("#diff-to")).select_by_value("2")
    browser.driver.find_element(By.ID, "diff-button").click()
    summary = browser.text_appears("#diff-result", "share")
    diff = ok(server, vera, "GET", "/api/v1/objects/model.bin/diff?from=1&to=2")
    assert "v1 and v2 share" in summary
    assert diff["shared_bytes"] > 2_000_000, diff
    assert browser.find("#diff-shared").text.endswith("MiB")
    browser.screenshot("object-versions")

    # Download version 1 in the browser.
    browser.find("#version-list tr[data-version='1'] .version-download").click()
    done = wait_for(lambda: [p for p in browser.downloads.iterdir() if p.name == "model.bin"], 60, "the download")
    wait_for(lambda: done[0].stat().st_size == len(v1), 60, "the whole download")
    assert done[0].read_bytes() == v1

    # Remove version 2 (an earlier one), then version 3 (the latest: version 1 becomes it).
    browser.find("#version-list tr[data-version='2'] .version-remove").click()
    assert "latest version stays" in browser.visible("dialog.confirm").text
    confirm(browser)
    browser.text_appears("main .notice.ok", "Removed version 2")
    assert [v["version"] for v in ok(server, vera, "GET", "/api/v1/objects/model.bin/versions")] == [3, 1]
    browser.find("#version-list tr[data-version='3'] .version-remove").click()
    assert "version 1 becomes the latest" in browser.visible("dialog.confirm").text
    confirm(browser)
    assert "version 1 is the latest now" in browser.text_appears("main .notice.ok", "Removed version 3")
    meta = ok(server, vera, "GET", "/api/v1/objects/model.bin")
    assert meta["version"] == 1 and meta["checksum"] == "blake3:" + blake3.blake3(v1).hexdigest()
    # The last version takes the name with it.
    browser.find("#version-list tr[data-version='1'] .version-remove").click()
    assert "only version" in browser.visible("dialog.confirm").text
    confirm(browser)
    browser.text_appears("main .notice.ok", "the name is gone")
    assert listed(server, vera) == []


def test_usage_shows_logical_bytes_beside_stored_bytes(server, browser):
    uma = server.new_user("uma")
    data = os.urandom(400_000)
    put_object(server, uma, "a.bin", data)
    put_object(server, uma, "b.bin", data)
    usage = ok(server, uma, "GET", "/api/v1/usage")
    browser.signed_in(uma)
    browser.open("#/objects")
    browser.text_appears("#usage", "stored")
    assert browser.find("#usage-objects").text == f"{usage['objects']} objects"
    assert "of data" in browser.find("#usage-logical").text
    print("usage line:", browser.find("#usage").text, json.dumps(usage))
    browser.screenshot("objects-usage")
