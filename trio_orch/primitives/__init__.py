"""Primitives: errors, retry and backoff, cancellation, limits, bounded channels, progress, store.

The lowest layer: it imports nothing from the rest of trio_orch but the modules below every
layer (``_exceptions``, ``_validate``, ``_groups``, ``_log``).  Each section below belongs
to one private module.
"""

from __future__ import annotations

import typing as _typing

from trio_orch._lazy import lazy_names as _lazy_names

# Every name below is loaded on first use (PEP 562, see trio_orch/_lazy.py), so that
# importing this package costs nothing for the components a program does not use.  A
# new name goes in these TYPE_CHECKING imports (what type checkers read) and in _LAZY.
if _typing.TYPE_CHECKING:
    from trio_orch.primitives._backoff import Backoff as Backoff
    from trio_orch.primitives._backoff import Jitter as Jitter
    from trio_orch.primitives._cancel import cancel_on as cancel_on
    from trio_orch.primitives._channel_state import DropPolicy as DropPolicy
    from trio_orch.primitives._channel_state import QueueStats as QueueStats
    from trio_orch.primitives._channels import BoundedReceiveChannel as BoundedReceiveChannel
    from trio_orch.primitives._channels import BoundedSendChannel as BoundedSendChannel
    from trio_orch.primitives._channels import open_bounded_channel as open_bounded_channel
    from trio_orch.primitives._errors import DEFAULT_CLASSIFIER as DEFAULT_CLASSIFIER
    from trio_orch.primitives._errors import ErrorClassifier as ErrorClassifier
    from trio_orch.primitives._errors import ErrorKind as ErrorKind
    from trio_orch.primitives._errors import classify_error as classify_error
    from trio_orch.primitives._errors import is_permanent as is_permanent
    from trio_orch.primitives._errors import is_transient as is_transient
    from trio_orch.primitives._eta import EtaEstimator as EtaEstimator
    from trio_orch.primitives._eta import ProgressSnapshot as ProgressSnapshot
    from trio_orch.primitives._eta import format_eta as format_eta
    from trio_orch.primitives._limiter import ConcurrencyLimiter as ConcurrencyLimiter
    from trio_orch.primitives._limiter import LimiterStats as LimiterStats
    from trio_orch.primitives._progress import ProgressStats as ProgressStats
    from trio_orch.primitives._progress import ProgressTask as ProgressTask
    from trio_orch.primitives._progress import ProgressTracker as ProgressTracker
    from trio_orch.primitives._progress import ThreadRunner as ThreadRunner
    from trio_orch.primitives._progress import open_progress_tracker as open_progress_tracker
    from trio_orch.primitives._retry import RetryDetails as RetryDetails
    from trio_orch.primitives._retry import RetryPolicy as RetryPolicy
    from trio_orch.primitives._retry import retry as retry
    from trio_orch.primitives._retry import retry_testing as retry_testing
    from trio_orch.primitives._retry import retrying as retrying
    from trio_orch.primitives._store import AsyncOperation as AsyncOperation
    from trio_orch.primitives._store import OpStatus as OpStatus
    from trio_orch.primitives._store import Selector as Selector
    from trio_orch.primitives._store import Store as Store
    from trio_orch.primitives._store import StoreStats as StoreStats
    from trio_orch.primitives._store import StoreSubscription as StoreSubscription
    from trio_orch.primitives._store import selector as selector
    from trio_orch.primitives._store import track_operation as track_operation
    from trio_orch.primitives._timing import Debouncer as Debouncer
    from trio_orch.primitives._timing import DebouncerStats as DebouncerStats
    from trio_orch.primitives._timing import Throttler as Throttler
    from trio_orch.primitives._timing import ThrottlerStats as ThrottlerStats
    from trio_orch.primitives._timing import open_debouncer as open_debouncer
    from trio_orch.primitives._timing import open_throttler as open_throttler

#: Names loaded on first use (PEP 562), with the module that defines them.
_LAZY = {
    "Backoff": "trio_orch.primitives._backoff",
    "Jitter": "trio_orch.primitives._backoff",
    "cancel_on": "trio_orch.primitives._cancel",
    "DropPolicy": "trio_orch.primitives._channel_state",
    "QueueStats": "trio_orch.primitives._channel_state",
    "BoundedReceiveChannel": "trio_orch.primitives._channels",
    "BoundedSendChannel": "trio_orch.primitives._channels",
    "open_bounded_channel": "trio_orch.primitives._channels",
    "DEFAULT_CLASSIFIER": "trio_orch.primitives._errors",
    "ErrorClassifier": "trio_orch.primitives._errors",
    "ErrorKind": "trio_orch.primitives._errors",
    "classify_error": "trio_orch.primitives._errors",
    "is_permanent": "trio_orch.primitives._errors",
    "is_transient": "trio_orch.primitives._errors",
    "EtaEstimator": "trio_orch.primitives._eta",
    "ProgressSnapshot": "trio_orch.primitives._eta",
    "format_eta": "trio_orch.primitives._eta",
    "ConcurrencyLimiter": "trio_orch.primitives._limiter",
    "LimiterStats": "trio_orch.primitives._limiter",
    "ProgressStats": "trio_orch.primitives._progress",
    "ProgressTask": "trio_orch.primitives._progress",
    "ProgressTracker": "trio_orch.primitives._progress",
    "ThreadRunner": "trio_orch.primitives._progress",
    "open_progress_tracker": "trio_orch.primitives._progress",
    "RetryDetails": "trio_orch.primitives._retry",
    "RetryPolicy": "trio_orch.primitives._retry",
    "retry": "trio_orch.primitives._retry",
    "retry_testing": "trio_orch.primitives._retry",
    "retrying": "trio_orch.primitives._retry",
    "AsyncOperation": "trio_orch.primitives._store",
    "OpStatus": "trio_orch.primitives._store",
    "Selector": "trio_orch.primitives._store",
    "Store": "trio_orch.primitives._store",
    "StoreStats": "trio_orch.primitives._store",
    "StoreSubscription": "trio_orch.primitives._store",
    "selector": "trio_orch.primitives._store",
    "track_operation": "trio_orch.primitives._store",
    "Debouncer": "trio_orch.primitives._timing",
    "DebouncerStats": "trio_orch.primitives._timing",
    "Throttler": "trio_orch.primitives._timing",
    "ThrottlerStats": "trio_orch.primitives._timing",
    "open_debouncer": "trio_orch.primitives._timing",
    "open_throttler": "trio_orch.primitives._timing",
}

__getattr__, __dir__ = _lazy_names(globals(), _LAZY)
