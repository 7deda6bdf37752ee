"""Trace generation, loading and open-loop replay (``shardgate trace`` / ``shardgate replay``).

See ``sharding/trace/README.md`` for the trace format and the commands.
"""
