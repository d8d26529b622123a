"""Fleet mode: any number of ``ogo-syncd worker`` processes share the work of one or more
merchants' configs through procrastinate (a PostgreSQL task queue).

One procrastinate job = one run of one (store, flow). Its ``lock`` and ``queueing_lock``
are both ``"store:flow"``: at most one such run at a time across the fleet, at most one
waiting. Every worker defers due runs (``schedule``), deduplicated in procrastinate's
periodic-defers table, and picks up whichever job is next, so the runs spread over the
workers. A worker that dies mid-run stops heartbeating; another worker finds its job
stalled and puts it back in the queue, and the intent rows (README, "How it stays
correct") make the re-run duplicate-free. See docs/scaling.md ("Fleet mode").
"""
