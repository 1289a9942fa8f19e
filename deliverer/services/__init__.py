"""The service layer: what the system does, one call per job, between the doors and the store.

The doors (the MQTT subscriber, the HTTP API, the command line) parse their input, make one call
here, and turn what comes back, or the typed error raised, into their own answer: an acknowledgement,
a JSON body, a line on a terminal. Nothing here knows MQTT sessions, Flask or argparse; everything
here works on any :class:`~deliverer.store.Store`, the in-memory one included.

- :mod:`.ingest`: raw MQTT messages into the store, the subscriber's call; built on :mod:`.messages`
  (validate and sort into reports and dead letters), :mod:`.poison` (redelivered messages) and
  :mod:`.writer` (write through outages, narrow down what the store refuses);
- :mod:`.accept`: reports sent over HTTP, validated as a whole and published, the API's call;
- :mod:`.reads`: an order's last location, courier and history pages, orders by recency, a courier's
  last location;
- :mod:`.trips`: the summary of one order's trip.
"""
