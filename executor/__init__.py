"""Deadlock-safe bucketed executor for fan-out work on trio. (Being written.)"""
