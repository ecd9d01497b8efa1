"""rtp-tag: a real-time personalization tag that runs in the browser under Pyodide.

The browser-side modules (everything in this package except ``collector``,
``cli``, ``build`` and ``pytest_plugin``) use the standard library only, so the
same code runs, and is tested, under CPython and inside Pyodide.
"""

__version__ = "0.1.0"
