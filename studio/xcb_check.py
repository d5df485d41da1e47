"""Can Qt's xcb platform plugin load here? On a minimal Linux it cannot until a few X libraries
are installed, and Qt then aborts with "Could not load the Qt platform plugin "xcb"".

    python -m studio.xcb_check      # exit 0, or print the `apt-get install` line and exit 3

`studio gui` and `make run` call this first, so a user reads the Debian packages to install
instead of Qt's abort. No Qt import: the check only asks the dynamic loader for each library.
"""

from __future__ import annotations

import ctypes
import os
import sys

# Debian/Ubuntu package -> a shared library that Qt 6's xcb plugin (libqxcb, libQt6XcbQpa) links
# (from `ldd` on PySide6's plugin).
XCB_PACKAGES: dict[str, str] = {
    "libxcb1": "libxcb.so.1",
    "libx11-xcb1": "libX11-xcb.so.1",
    "libxcb-cursor0": "libxcb-cursor.so.0",
    "libxcb-icccm4": "libxcb-icccm.so.4",
    "libxcb-keysyms1": "libxcb-keysyms.so.1",
    "libxcb-image0": "libxcb-image.so.0",
    "libxcb-render-util0": "libxcb-render-util.so.0",
    "libxcb-render0": "libxcb-render.so.0",
    "libxcb-randr0": "libxcb-randr.so.0",
    "libxcb-shape0": "libxcb-shape.so.0",
    "libxcb-shm0": "libxcb-shm.so.0",
    "libxcb-sync1": "libxcb-sync.so.1",
    "libxcb-xfixes0": "libxcb-xfixes.so.0",
    "libxcb-xkb1": "libxcb-xkb.so.1",
    "libxcb-util1": "libxcb-util.so.1",
    "libxkbcommon0": "libxkbcommon.so.0",
    "libxkbcommon-x11-0": "libxkbcommon-x11.so.0",
    "libegl1": "libEGL.so.1",
    "libgl1": "libGL.so.1",
    "libfontconfig1": "libfontconfig.so.1",
    "libdbus-1-3": "libdbus-1.so.3",
}


def uses_xcb(env: dict[str, str] | None = None) -> bool:
    """Whether Qt will pick the xcb plugin: Linux, and no other platform asked for or more likely."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def missing_packages(loader=ctypes.CDLL) -> list[str]:
    """The Debian packages whose library the dynamic loader cannot find."""
    missing = []
    for package, soname in XCB_PACKAGES.items():
        try:
            loader(soname)
        except OSError:
            missing.append(package)
    return missing


def advice(missing: list[str]) -> str:
    return (
        "Model Studio cannot open its window: Qt's xcb platform plugin needs system libraries that "
        "are not installed.\nOn Debian or Ubuntu, install them with:\n\n"
        f"    sudo apt-get install {' '.join(missing)}\n\n"
        "(Or run headless with QT_QPA_PLATFORM=offscreen.)"
    )


def main() -> int:
    if not uses_xcb():
        return 0
    missing = missing_packages()
    if missing:
        print(advice(missing), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
