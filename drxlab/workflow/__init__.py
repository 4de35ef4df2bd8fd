"""Orchestration: the only layer (with the report) that reads and writes the store.

Each function here is one all-or-nothing step of the lab's loop, called by one CLI command.
"""
