"""The collector: an HTTP service that stores events and serves personalization.

It runs on the server only and is never shipped to the browser.
"""
