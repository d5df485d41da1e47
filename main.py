"""Open the Model Studio window: `python main.py` (the same as `studio gui`)."""

import sys

from ui.app import main

if __name__ == "__main__":
    sys.exit(main())
