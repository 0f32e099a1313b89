"""The per-kernel table CNNRT_PROFILE=1 prints at exit (runtime/Profile.cpp).

A row: total ms, share %, calls, fastest ms, median ms, kernel label.
"""

import re

ROW = re.compile(r"^\s*([\d.]+)\s+[\d.]+%\s+\d+\s+([\d.]+)\s+([\d.]+)\s+(.+)$")


def rows(text):
    """(kernel label, fastest ms, median ms) for every row of the table in text."""
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            yield m.group(4).strip(), float(m.group(2)), float(m.group(3))
