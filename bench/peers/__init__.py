"""The checkout's peers: the same five steps' SQL as one transaction, on Temporal, on DBOS.

Each is a process with a small HTTP front (`POST /checkout`) so that one load generator
drives every system the same way; see README.md beside this file.
"""
