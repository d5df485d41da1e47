"""`studio gui` on a minimal Linux: the missing xcb libraries become an apt-get line, not Qt's abort."""

from __future__ import annotations

import pytest

from studio import xcb_check


def test_missing_libraries_are_named_by_their_debian_packages():
    absent = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}

    def loader(soname):
        if soname in absent:
            raise OSError(f"{soname}: cannot open shared object file")

    missing = xcb_check.missing_packages(loader)
    assert missing == ["libxcb-cursor0", "libxcb-icccm4"]
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in xcb_check.advice(missing)


@pytest.mark.parametrize("env, expected", [
    ({}, True), ({"WAYLAND_DISPLAY": "wayland-0"}, False), ({"QT_QPA_PLATFORM": "offscreen"}, False),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, True),
])
def test_only_an_xcb_start_is_checked(env, expected, monkeypatch):
    monkeypatch.setattr(xcb_check.sys, "platform", "linux")
    assert xcb_check.uses_xcb(env) is expected


def test_studio_gui_prints_the_packages_instead_of_starting_qt(monkeypatch, capsys, tmp_path):
    from studio.cli import main

    monkeypatch.setattr(xcb_check, "uses_xcb", lambda env=None: True)
    monkeypatch.setattr(xcb_check, "missing_packages", lambda loader=None: ["libxcb-keysyms1"])
    monkeypatch.setattr("os.execv", lambda *a: pytest.fail("Qt must not start"))
    with pytest.raises(SystemExit) as exit_:
        main(["gui", "--home", str(tmp_path / "home")])
    assert exit_.value.code == 3
    assert "sudo apt-get install libxcb-keysyms1" in capsys.readouterr().err
