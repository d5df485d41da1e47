"""Start the window: `python main.py`, `python -m ui`, or `studio gui [--smoke]`.

Startup stays light: torch, transformers and llama_cpp are never imported here; pages are
built on first view; the hardware is detected on a worker thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

_T0 = time.perf_counter()


def _process_age() -> float:
    """Seconds since this process started (interpreter start included)."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:  # noqa: BLE001
        return time.perf_counter() - _T0


def apply_theme(app) -> None:
    """Fusion, light or dark following the system colour scheme (and its changes)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")

    def update(scheme=None) -> None:
        scheme = app.styleHints().colorScheme() if scheme is None else scheme
        if scheme == Qt.ColorScheme.Dark:
            p = QPalette()
            base, alt, text = QColor(32, 33, 36), QColor(45, 46, 50), QColor(230, 230, 230)
            p.setColor(QPalette.ColorRole.Window, alt)
            p.setColor(QPalette.ColorRole.WindowText, text)
            p.setColor(QPalette.ColorRole.Base, base)
            p.setColor(QPalette.ColorRole.AlternateBase, alt)
            p.setColor(QPalette.ColorRole.Text, text)
            p.setColor(QPalette.ColorRole.Button, alt)
            p.setColor(QPalette.ColorRole.ButtonText, text)
            p.setColor(QPalette.ColorRole.ToolTipBase, base)
            p.setColor(QPalette.ColorRole.ToolTipText, text)
            p.setColor(QPalette.ColorRole.Highlight, QColor(66, 133, 244))
            p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
            p.setColor(QPalette.ColorRole.PlaceholderText, QColor(150, 150, 150))
            app.setPalette(p)
        else:
            app.setPalette(app.style().standardPalette())

    update()
    app.styleHints().colorSchemeChanged.connect(update)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="studio gui")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--home")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    else:
        from studio.xcb_check import advice, missing_packages, uses_xcb

        if uses_xcb() and (missing := missing_packages()):
            print(advice(missing), file=sys.stderr)  # instead of Qt's abort
            return 3

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from studio.errors import StudioError
    from ui.errors import install_excepthooks

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Model Studio")
    app.setOrganizationName("model-studio")
    apply_theme(app)
    install_excepthooks()

    from studio.core import open_studio

    try:
        studio = open_studio(args.home)
    except StudioError as e:
        if args.smoke:
            print(json.dumps({"error": e.message, "hint": e.hint}))
            return 2
        QMessageBox.critical(None, "Model Studio cannot start", e.message + (f"\n\n{e.hint}." if e.hint else ""))
        return 2

    from ui.main_window import MainWindow

    settings = QSettings(str(studio.home.root / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(studio, settings)

    def detect() -> None:
        from studio.hardware import detect_device

        info = detect_device().describe()
        QTimer.singleShot(0, window, lambda: window.set_device(info))

    threading.Thread(target=detect, name="detect-device", daemon=True).start()

    if args.smoke:
        def painted(_t: float) -> None:
            startup = _process_age()

            def report() -> None:
                import psutil

                rss = psutil.Process().memory_info().rss / 2**20
                heavy = sorted(m for m in ("torch", "transformers", "llama_cpp", "trl", "peft") if m in sys.modules)
                print(json.dumps({"startup_s": round(startup, 3), "rss_mb": round(rss, 1), "heavy_modules": heavy}))
                app.quit()

            QTimer.singleShot(0, report)

        window.first_paint.connect(painted)
        QTimer.singleShot(20000, lambda: (print(json.dumps({"error": "no paint within 20 s"})), app.exit(1)))
        window.show()
        code = app.exec()
        studio.close()
        return code

    studio.jobs.try_become_runner()
    window.show()
    code = app.exec()
    studio.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
