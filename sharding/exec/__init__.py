"""Running plans: shard reads and writes through the executor and the backends."""
