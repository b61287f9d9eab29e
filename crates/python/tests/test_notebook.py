"""Progress bars show in a notebook cell: a real Jupyter kernel runs an upload with
show_progress=True, and the cell's output (what the notebook displays) carries the bar."""

import os

import jupyter_client.manager
import pytest


def test_progress_shows_in_a_jupyter_cell(server, tmp_path):
    data = tmp_path / "cell.bin"
    data.write_bytes(os.urandom(20 << 20))
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3", env=dict(os.environ))
    try:
        code = (
            "import fedml\n"
            f"r = fedml.api.upload({str(data)!r}, api_key={server.admin_key!r}, show_progress=True)\n"
            "print('CODE', r.code.value)\n"
        )
        msg_id = kc.execute(code)
        shown = []
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                shown.append(content["text"])
            elif kind in ("display_data", "update_display_data"):
                shown.append(str(content.get("data", {})))
            elif kind == "error":
                pytest.fail("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                break
        text = "".join(shown)
        assert "CODE SUCCESS" in text, text
        assert "Uploading Package to Remote Storage" in text, text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
