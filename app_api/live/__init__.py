"""The live server: Server-Sent Events of stored reports, and the tracking pages, on one event loop.

A stream is a coroutine and a socket, not a thread: one process holds thousands. Each process
tails the store's ingest log once (:mod:`app_api.live.feed`) and hands every new report to the
streams of its order, so the cost of a poll does not grow with the number of watchers.
"""
