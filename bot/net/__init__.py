"""Reaching the network on behalf of untrusted input: only where, and only as much as, allowed."""
