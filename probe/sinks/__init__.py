"""Sinks: the InfluxDB line-protocol data model and the forwarder that drains the outbox.

``datamodel`` defines measurement, tags and fields once (documented in docs/data-model.md);
``forwarder`` delivers at least once from a durable outbox, ``influx`` is the HTTP write through
influxdb-client's synchronous API. influxdb-client is imported only when a writer is built.
"""
