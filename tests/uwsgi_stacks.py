"""Imported by each uWSGI worker of a test's glance-api (its ``import`` option): on SIGRTMIN+2
the worker writes every thread's stack to its log, for a test that gave up waiting on Glance.

uWSGI's own ``py-tracebacker`` answers with an empty dump for Glance's worker threads here;
Python's faulthandler sees all of them.
"""

import faulthandler
import signal

SIGNAL = signal.SIGRTMIN + 2
faulthandler.register(SIGNAL, all_threads=True, chain=False)
