# _pynode_aio: the Python half of pynode's async bridge (crates/pynode-core/src/aio.rs).
#
# One Host per event loop. Each loop runs forever on its own tokio blocking thread. JS threads
# never touch these objects: they queue requests in Rust and write one byte to `wsock`; the
# loop wakes, `drain` (Rust) turns the requests into Python objects and calls the methods
# below. Results go back through `emit(id, kind, payload)` (Rust), which converts them and
# hands them to the JS thread that asked.
import asyncio
import inspect
import selectors
import socket
import sys
import time
import warnings

RESOLVE, REJECT, ITEM, END = 0, 1, 2, 3

_CancelledError = asyncio.CancelledError
_inspect_isawaitable = inspect.isawaitable
# Results of these types are never awaitable: skip inspect's (slow) ABC check for them.
_PLAIN = frozenset([type(None), bool, int, float, str, bytes, list, tuple, dict, set])


def _isawaitable(value):
    return type(value) not in _PLAIN and _inspect_isawaitable(value)


_eager = getattr(asyncio, 'eager_task_factory', None)  # 3.12+

hosts = {}  # loop index -> Host


class JSError(Exception):
    """A JS error thrown into Python (an async iterator's throw())."""

    def __init__(self, message, name='Error'):
        super().__init__(message)
        self.name = name

    def __str__(self):
        return '%s: %s' % (self.name, self.args[0]) if self.args else self.name


# Code flags of functions whose call runs no user code: coroutine, async generator, generator.
_LOOP_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_GENERATOR | inspect.CO_ITERABLE_COROUTINE


def _runs_on_loop(fn):
    code = getattr(fn, '__code__', None)  # functions and bound methods: a cheap, exact check
    if code is not None and code.co_flags & _LOOP_FLAGS:
        return True
    return _classify(fn)


def _classify(fn):
    # Coroutine functions, async/sync generator functions (calling them runs no user code),
    # and callables whose __call__ is a coroutine function. Everything else may block: it
    # runs on tokio's blocking pool.
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        return True
    if getattr(fn, '_is_coroutine', None) is not None:  # asyncio.coroutine-style markers
        return True
    call = getattr(type(fn), '__call__', None)
    return call is not None and inspect.iscoroutinefunction(call)


def _take(it, n, budget):
    """Pulls up to n items from a sync iterator (on the blocking pool); stops early after
    `budget` seconds so a slow generator's items are not held back."""
    items = []
    deadline = time.monotonic() + budget
    for _ in range(n):
        try:
            items.append(next(it))
        except StopIteration:
            return items, True
        if time.monotonic() >= deadline:
            break
    return items, False


class _Selector(selectors.DefaultSelector):
    # Before sleeping in the kernel, a loop that was just busy waits a few tens of microseconds
    # (in Rust, GIL released) for the next request: waking a sleeping thread costs tens of
    # microseconds on virtual machines, and a sequential `await fn.callAsync()` pays it per call.
    def __init__(self, spin):
        super().__init__()
        self._spin = spin

    def select(self, timeout=None):
        if (timeout is None or timeout > 0) and self._spin():
            timeout = 0
        return super().select(timeout)


class Host:
    def __init__(self, index, emit, blocking, drain, spin):
        self.index = index
        self.loop = asyncio.SelectorEventLoop(_Selector(spin))
        self.emit = emit
        self.blocking = blocking
        self.drain = drain
        self.tasks = {}  # id -> task of a call in flight
        self.task_ids = {}  # task -> id, for calls settled by _on_done
        self.streams = {}
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)

    # -- the loop thread --------------------------------------------------------------

    def run(self):
        asyncio.set_event_loop(self.loop)
        # drain(fd) reads the wake-up bytes itself (in Rust) before draining the requests.
        self.loop.add_reader(self.rsock.fileno(), self.drain, self.rsock.fileno())
        self.loop.call_soon(self.drain)
        self.loop.run_forever()

    def _task(self, coro):
        # A task copies the current context: every call gets its own contextvars.
        return self.loop.create_task(coro)

    def _track(self, id, coro):
        """Runs `coro` as the task of request `id`; its outcome settles `id` (_finish).

        3.12+: the task starts eagerly, so a coroutine that finishes without suspending settles
        in this drain instead of one loop iteration later. Only pynode's own request tasks: the
        loop's task factory (for user code's create_task) is left alone."""
        task = _eager(self.loop, coro) if _eager is not None else self._task(coro)
        if task.done():
            self._finish(id, task)
        else:
            self.tasks[id] = task
            self.task_ids[task] = id
            task.add_done_callback(self._on_done)

    def _on_done(self, task):
        id = self.task_ids.pop(task, None)
        if id is not None:
            self.tasks.pop(id, None)
            self._finish(id, task)

    def _finish(self, id, task):
        try:
            result = task.result()
        except BaseException as e:  # includes CancelledError, also before the task's first step
            self.emit(id, REJECT, e)
            return
        if _isawaitable(result):
            self.settle(id, result)
        else:
            self.emit(id, RESOLVE, result)

    # -- calls ------------------------------------------------------------------------

    def call(self, id, fn, args, kwargs):
        """callAsync: coroutine functions are awaited here, other callables run on the
        blocking pool; the result (awaited again if it is awaitable) settles `id`."""
        if not _runs_on_loop(fn):
            self._track(id, self._one(fn, args, kwargs))
            return
        # The hot path: the coroutine itself is the task (no wrapper coroutine, so fewer
        # objects for Python's GC per call). Calling a coroutine function runs none of its
        # code, so the drain's context does not leak in.
        try:
            coro = fn(*args, **kwargs) if kwargs else fn(*args)
        except BaseException as e:
            self.emit(id, REJECT, e)
            return
        if asyncio.iscoroutine(coro):
            self._track(id, coro)
        else:
            self.settle(id, coro)  # an async generator function's generator, say

    def start(self, fn, args, kwargs):
        if _runs_on_loop(fn):
            return fn(*args, **kwargs) if kwargs else fn(*args)
        return self.blocking(fn, args, kwargs)

    async def _one(self, fn, args, kwargs):
        """fn(*args, **kwargs), awaited until it is not awaitable (a plain function run on the
        blocking pool may itself return a coroutine). fn None: args[0] is the awaitable."""
        result = args[0] if fn is None else self.start(fn, args, kwargs)
        while _isawaitable(result):
            result = await result
        return result

    def settle(self, id, value):
        """evalAsync and awaiting an object: await `value` if it is awaitable."""
        if _isawaitable(value):
            self._track(id, self._one(None, (value,), None))
        else:
            self.emit(id, RESOLVE, value)

    def cancel(self, id):
        task = self.tasks.get(id)
        if task is not None:
            task.cancel()  # _finish settles it, even if it is cancelled before its first step
        stream = self.streams.get(id)
        if stream is not None:
            stream.close()

    # -- task groups ------------------------------------------------------------------

    def group(self, id, calls, taskgroup):
        self._track(id, self._group(calls, taskgroup))

    async def _group(self, calls, taskgroup):
        if taskgroup:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self._one(fn, args, kwargs)) for fn, args, kwargs in calls]
            return [t.result() for t in tasks]
        return await asyncio.gather(*[self._one(fn, args, kwargs) for fn, args, kwargs in calls])

    # -- streams (async iteration) ----------------------------------------------------

    def stream(self, id, fn, args, kwargs):
        """iterate(): fn(*args) gives the iterable (fn None: args[0] is the iterable)."""
        self.streams[id] = _Stream(self, id, fn, args, kwargs)

    def grant(self, id, n):
        stream = self.streams.get(id)
        if stream is not None:
            stream.grant(n)

    def close(self, id):
        stream = self.streams.get(id)
        if stream is None:
            self.emit(id, END, None)
        else:
            stream.close()

    def throw(self, id, reply, exc):
        stream = self.streams.get(id)
        if stream is None:
            self.emit(reply, REJECT, exc)
        else:
            stream.throw(reply, exc)


class _Stream:
    """Pulls items from an (async) iterator while JS has granted credit, and emits them.

    Credit bounds how far the pump runs ahead of the JS consumer. close() (JS return(), break,
    abort) stops the pump and calls aclose()/close(); throw() maps to athrow()/throw()."""

    def __init__(self, host, id, fn, args, kwargs):
        self.host = host
        self.id = id
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.it = None
        self.is_async = False
        self.credit = 0
        self.waiter = None
        self.task = None
        self.closing = False  # close() requested (or the stream ended)
        self.throwing = None  # the task of a throw() in progress

    def grant(self, n):
        self.credit += n
        if self.task is None:
            if not self.closing and self.throwing is None:
                self.task = self.host._task(self._pump())
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def _open(self):
        if self.it is not None:
            return
        if self.fn is None:
            source = self.args[0]
        else:
            source = await self.host._one(self.fn, self.args, self.kwargs)
        self.fn = self.args = self.kwargs = None
        if _isawaitable(source) and not hasattr(source, '__aiter__'):
            source = await source
        if hasattr(source, '__aiter__'):
            self.it = source.__aiter__()
            self.is_async = True
        else:
            self.it = iter(source)

    async def _credit(self):
        while self.credit <= 0:
            self.waiter = self.host.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    async def _pump(self):
        emit, id = self.host.emit, self.id
        try:
            await self._open()
            if self.is_async:
                anext = self.it.__anext__
                while True:
                    if self.credit <= 0:
                        await self._credit()
                    try:
                        item = await anext()
                    except StopAsyncIteration:
                        break
                    if self.closing or self.throwing is not None:
                        return  # the generator swallowed the cancellation of a close()/throw()
                    self.credit -= 1
                    if not emit(id, ITEM, item):
                        self.close()
                        return
            else:
                blocking, it = self.host.blocking, self.it
                while True:
                    if self.credit <= 0:
                        await self._credit()
                    items, finished = await blocking(_take, (it, self.credit, 0.005), None)
                    self.credit -= len(items)
                    for item in items:
                        if not emit(id, ITEM, item):
                            self.close()
                            return
                    if finished:
                        break
        except _CancelledError as e:
            if self.closing or self.throwing is not None:
                return
            self._end(REJECT, e)
            raise
        except BaseException as e:
            self._end(REJECT, e)
            return
        self._end(END, None)

    def _end(self, kind, payload):
        self._finished()
        self.task = None
        self.host.emit(self.id, kind, payload)

    async def _stop_pump(self):
        task = self.task
        self.task = None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except BaseException:
                pass

    def close(self):
        if self.closing:
            return
        self.closing = True
        self.host._task(self._close())

    async def _close(self):
        await self._stop_pump()
        throwing = self.throwing
        if throwing is not None and not throwing.done():
            try:
                await throwing  # let a throw() in progress finish before closing
            except BaseException:
                pass
        self.host.streams.pop(self.id, None)
        try:
            await self._close_iterator()
        except BaseException as e:
            self.host.emit(self.id, REJECT, e)
            return
        self.host.emit(self.id, END, None)

    async def _close_iterator(self):
        it, self.it = self.it, None
        if it is None:
            return
        if self.is_async:
            aclose = getattr(it, 'aclose', None)
            if aclose is not None:
                await aclose()
        else:
            close = getattr(it, 'close', None)
            if close is not None:
                await self.host.blocking(close, (), None)

    def throw(self, reply, exc):
        if self.closing or self.throwing is not None:
            self.host.emit(reply, REJECT, exc)  # closed, or closing: nothing to throw into
            return
        self.throwing = self.host._task(self._throw(reply, exc))

    async def _throw(self, reply, exc):
        emit = self.host.emit
        try:
            await self._stop_pump()
            self.credit = 0
            # A close() that arrived after this throw() waits for it (see _close).
            await self._open()
            it = self.it
            if self.is_async:
                athrow = getattr(it, 'athrow', None)
                if athrow is None:
                    raise exc
                item = await athrow(exc)
            else:
                gthrow = getattr(it, 'throw', None)
                if gthrow is None:
                    raise exc
                item = await self.host.blocking(gthrow, (exc,), None)
        except (StopAsyncIteration, StopIteration):
            self._finished()
            emit(reply, RESOLVE, (True, None))
            emit(self.id, END, None)
        except BaseException as e:
            self._finished()
            emit(reply, REJECT, e)
            emit(self.id, END, None)
        else:
            emit(reply, RESOLVE, (False, item))
        finally:
            self.throwing = None

    def _finished(self):
        self.closing = True
        self.host.streams.pop(self.id, None)


# -- helpers JS reaches through python.asyncQueue() -------------------------------------

def make_queue(maxsize):
    """An asyncio.Queue bound to loop 0 (3.9 binds at construction, 3.10+ at first use)."""
    if sys.version_info < (3, 10):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            return asyncio.Queue(maxsize, loop=hosts[0].loop)
    return asyncio.Queue(maxsize)


async def read_all(queue):
    """Yields queue items forever (until the reader stops, or the queue is shut down on 3.13)."""
    shutdown = getattr(asyncio, 'QueueShutDown', None)
    while True:
        try:
            item = await queue.get()
        except Exception as e:
            if shutdown is not None and isinstance(e, shutdown):
                return
            raise
        queue.task_done()
        yield item
