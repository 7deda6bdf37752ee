"""Shard-aware coordinator built on :mod:`executor`. (Being written.)"""
