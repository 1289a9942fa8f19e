"""The HTTP API: ingest location reports into MQTT, read locations from the store.

The application factory is :func:`app_api.app.create_app`; ``deliverer api`` (:mod:`app_api.cli`)
serves it.
"""
