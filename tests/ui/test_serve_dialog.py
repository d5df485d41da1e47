"""Serve this model from the window: the Models page's Serve… opens a dialog that starts a real
`studio serve` on 127.0.0.1 (answering GET /v1/models) and stops it; no key, no other address."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest


def test_serve_dialog_starts_and_stops_a_real_server_and_refuses_an_open_address_without_a_key(studio_with_model, qtbot):
    from ui.models_page import ModelsPage

    page = ModelsPage(studio_with_model)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: len(page.rows) > 0, timeout=30_000)
    page.select("gemma-3-270m (base)")
    assert page.serve_button.isEnabled()
    page.serve_selected()
    dlg = page._serve_dialog
    dlg.port_spin.setValue(0)
    dlg.host_edit.setText("0.0.0.0")
    dlg.start_button.click()
    assert dlg.server is None and "without a key" in dlg.status.text()

    dlg.host_edit.setText("127.0.0.1")
    dlg.start_button.click()
    url = dlg.server.url
    models = json.load(urllib.request.urlopen(url + "/v1/models", timeout=10))
    assert "gemma-3-270m (base)" in [m["id"] for m in models["data"]]
    assert "gemma-3-270m (base)" in dlg.example.toPlainText() and dlg.start_button.text() == "Stop"
    dlg.close()
    assert dlg.server is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/v1/models", timeout=5)
    page.shutdown()
