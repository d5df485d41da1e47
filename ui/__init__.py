"""Model Studio's window: Qt widgets only, one module per page.

    studio gui                                   # or `python -m ui`, or `make run`
    from ui.datasets_page import DatasetsPage    # each page is a widget over one Studio
    page = DatasetsPage(studio)

Pages call the headless core (`studio`) and never run model, torch or heavy database work
on the GUI thread: long work is a job (child process) or a worker thread whose results
come back as plain data through Qt signals.
"""
