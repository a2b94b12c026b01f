"""Facts about this host (an adapter): which interface routes to the server and what it is
(Ethernet, Wi-Fi, other), its negotiated speed, the Wi-Fi radio's state, the client's own
throughput ceiling, and the interface byte counters and CPU load around a test.

Every reader degrades to an *unknown* fact that says where it looked and why it found
nothing (no sysfs entry, no ``iw``, a container); none of them raises for a missing source.
"""
