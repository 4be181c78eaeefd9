"""The fork server ("zygote"): one long-lived process per worker that has already imported
ipykernel, IPython, torch, numpy and matplotlib, and forks a brand-new kernel process for each
submission, so no submission pays those imports again.

This file is never imported by the grader: its source is run as ``python -c`` inside the
worker's sandbox (see forkserver.py). It never runs student code itself. Each kernel it forks:

* is a new process (copy-on-write of the imports, nothing else: no student ever ran here);
* when sandboxed, enters its own user, mount, IPC and PID namespaces: a fresh size-limited /work and
  /tmp, the zygote's control folder hidden, under a small init, PID 1 of a namespace whose every
  process dies with it (a daemon cannot outlive its submission);
* dies if its init or the zygote dies (PR_SET_PDEATHSIG).

Protocol: one JSON request per connection on a Unix socket, one JSON reply.
  {"op": "spawn", "connection_file": F, "cwd": D, "args": [ipykernel option, ...]}
                                                    -> {"pid": the kernel's init's pid}
  {"op": "poll", "pid": P}                          -> {"status": exit code or null}
  {"op": "signal", "pid": P, "sig": N}              -> {"ok": true}
"""
import ctypes
import json
import os
import signal
import socket
import sys
import warnings

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x08000000, 0x10000000, 0x20000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID
MS_REC, MS_PRIVATE = 0x4000, 0x40000
PR_SET_PDEATHSIG = 1
MODULES_FILE = "kernel-modules.json"  # in the control folder: [[module name, file name, source], ...], in order


def preload(control_dir=None):
    """Everything a kernel for this course imports, imported once, here; and the grader's own
    kernel-side modules (probe, recorder), defined but not set up: each kernel's set-up cell
    gives them its own nonce, so nothing of one submission is in them."""
    import gc

    # no cyclic garbage collection while importing: 2,300 modules, and each full collection walks
    # every object made so far (0.5-1.0 of the 2.9-3.3 cpu-s the imports took with it); what it
    # would have found (about 11,600 objects, 2 MiB) stays frozen with the rest
    gc.disable()
    saved = warnings.filters[:]
    warnings.filterwarnings("ignore")
    lean = globals().get("lean_ipython")  # lean.py's, whose source the fork server puts before this file's
    if lean is not None:
        lean(True)
    import ipykernel.kernelapp  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import IPython  # noqa: F401
    import IPython.core.interactiveshell  # noqa: F401
    import matplotlib  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.pyplot
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import zmq  # noqa: F401
    import jupyter_client.session  # noqa: F401
    for name in ("ipykernel.debugger", "ipykernel.zmqshell", "ipykernel.comm", "ipykernel.iostream",
                 "ipykernel.heartbeat", "ipykernel.control", "ipykernel.eventloops", "IPython.core.completer",
                 "IPython.display", "matplotlib_inline.backend_inline", "PIL.Image", "numpy.linalg", "numpy.random",
                 "tornado.platform.asyncio", "torch._subclasses.schema_check_mode", "faulthandler",
                 "torch.fx.experimental.symbolic_shapes"):  # (backward with a gradient loads sympy)
        try:  # modules a kernel loads on start or on first use
            __import__(name)
        except Exception:
            pass
    if lean is not None:
        lean(False)
    try:  # fonts, axes and line machinery set up once (plt.close leaves pyplot empty)
        plt = matplotlib.pyplot
        fig = plt.figure()
        fig.add_subplot().plot([0, 1], [0, 1], label="x")
        plt.close(fig)
    except Exception:
        pass
    warnings.filters[:] = saved
    if control_dir is not None:  # written by the fork server; a failure here stops the zygote, loudly
        import types

        with open(os.path.join(control_dir, MODULES_FILE), encoding="utf-8") as f:
            for name, filename, source in json.load(f):  # a file for a module already defined runs in it
                module = sys.modules.get(name) or types.ModuleType(name)
                exec(compile(source, filename, "exec"), module.__dict__)
                sys.modules[name] = module
    # keep the imported objects out of every child's garbage collections: fewer copied pages. No
    # full collection first: it costs 0.16-0.33 s of CPU in every fork server and finds no open
    # file (the warm-up figure's callbacks and transforms, import-time leftovers), left frozen instead
    gc.freeze()
    gc.enable()  # every kernel collects as a kernel does


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = ctypes.PyDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_ulong] + [ctypes.c_void_p] * 4


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def _mount(src, target, fstype, flags, data):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), "mount " + target)


KEEP_IN_TMP = []  # folders under /tmp that hold this Python (a virtualenv there): never hidden


def _wipe_tmp():
    import shutil

    tops = {p.split("/")[2] for p in KEEP_IN_TMP}
    for name in os.listdir("/tmp"):
        if name not in tops:
            path = os.path.join("/tmp", name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _isolate(control_dir, disk_bytes):
    """New user, mount, IPC and PID namespaces for one kernel, made with unshare (the caller then
    forks: the child is PID 1 of the new namespace). Only where ``_clone`` cannot make them."""
    ids = os.getuid(), os.getgid()
    _check(_libc.unshare(NAMESPACES), "unshare")
    _enter(control_dir, disk_bytes, *ids)


def _enter(control_dir, disk_bytes, uid, gid):
    """In new namespaces: this uid and gid mapped to themselves, a fresh size-limited /work and
    /tmp, the zygote's control folder hidden. The IPC namespace matters: System V shared memory,
    semaphores and message queues outlive the processes that made them, so without it one
    submission could leave data for the next kernel of the same worker. ``uid`` and ``gid`` are
    the ones outside (inside, until they are mapped, they read as the overflow ids)."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write("%d %d 1" % (uid, uid))
    with open("/proc/self/gid_map", "w") as f:
        f.write("%d %d 1" % (gid, gid))
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    _mount("tmpfs", "/work", "tmpfs", 0, "size=%d,mode=1777" % disk_bytes)
    if KEEP_IN_TMP:
        _wipe_tmp()  # /tmp holds this Python: empty it instead of replacing it
    else:
        _mount("tmpfs", "/tmp", "tmpfs", 0, "size=%d,mode=1777" % disk_bytes)
    _mount("tmpfs", control_dir, "tmpfs", 0, "size=4096,mode=0555")  # the kernel cannot ask for more kernels


# the raw clone system call (fork with namespaces), where its number is known
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine)


def _clone(flags):
    """fork(), the child made in new namespaces (``flags``), which fork cannot do: the raw clone
    system call as fork makes it (a copy of this process, SIGCHLD to the parent when it ends).
    The child's pid, or 0 in the child. The call keeps the GIL (PyDLL), so the child holds it
    as the parent did; this process is single-threaded (the zygote: _prepare checks). The child
    skips Python's and the C library's fork handlers (and its C library still has the parent's
    thread id cached), so it only maps its ids, mounts, forks with os.fork (which runs them all)
    and waits."""
    pid = _syscall(_SYS_CLONE, flags | signal.SIGCHLD, None, None, None, None)
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, "clone: %s" % os.strerror(err))
    return pid


# the ipykernel options (launch.KERNEL_ARGS) this zygote holds a kernel application and an IPython
# shell made for, if any (see _prepare), and whether it has tried to make them
_prepared_for = None
_tried = False


def _prepare(args):
    """Once, in the zygote, where no student code ever runs: the part of a kernel's start that is
    the same for every kernel and opens no socket and no thread. That is ipykernel's options
    parsed, the profile and config files found, and the IPython shell built (its magics,
    formatters, namespaces), about 30 ms of CPU a kernel. A forked kernel then opens its own
    sockets and threads, and ipykernel adopts the shell it finds made (_start_prepared).

    Only for ipykernel's own kernel and shell classes and the first set of options asked for (the
    application and the shell are singletons); if anything else was asked for, or making them
    started a thread (one that would not survive the fork), kernels start the ordinary way."""
    global _prepared_for, _tried
    if not _tried:
        _tried = True
        if _make_app_and_shell(list(args)):
            _prepared_for = tuple(args)
        else:
            _forget_prepared()  # half made: a kernel must not find it
        import gc

        gc.freeze()  # what was made here is shared by every kernel, as the imports are
    return _prepared_for == tuple(args)


def _make_app_and_shell(args):
    import inspect
    import threading

    from IPython.core.application import BaseIPythonApplication
    from ipykernel.compiler import XCachingCompiler
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelapp import IPKernelApp
    from ipykernel.zmqshell import ZMQInteractiveShell

    try:  # this ipykernel starts as _start_prepared expects: its own initialize calls the base
        # application's (the part done here), and its kernel takes the shell singleton (the one
        # made here); another version that does not is left to start the ordinary way
        if "super().initialize(argv)" not in inspect.getsource(IPKernelApp.initialize) or \
                "shell_class.instance(" not in inspect.getsource(IPythonKernel.__init__):
            return False
        app = IPKernelApp.instance()
        BaseIPythonApplication.initialize(app, args)  # options, profile, config files
        custom = set(app.config.get("IPythonKernel", {})) & {"shell_class", "compiler_class", "user_module", "user_ns"}
        if app.subapp is not None or app.kernel_class is not IPythonKernel or custom or app.user_ns is not None:
            return False
        shell = ZMQInteractiveShell.instance(parent=app, profile_dir=app.profile_dir, kernel=None,
                                             compiler_class=XCachingCompiler)
        try:  # the result formatters, made on first use, and torch's tensor printing: 3 + 2.5 ms a kernel
            import torch

            shell.display_formatter.format(torch.zeros(2))
        except Exception:
            pass
        return threading.active_count() == 1
    except Exception:
        return False


def _forget_prepared():
    try:
        from ipykernel.kernelapp import IPKernelApp
        from ipykernel.zmqshell import ZMQInteractiveShell

        ZMQInteractiveShell.clear_instance()
        IPKernelApp.clear_instance()
    except Exception:
        pass


def _start_prepared(connection_file):
    """In a forked kernel: ipykernel's start without the part _prepare did in the zygote."""
    from IPython.core.application import BaseIPythonApplication
    from ipykernel.kernelapp import IPKernelApp
    from ipykernel.zmqshell import ZMQInteractiveShell

    app, shell = IPKernelApp.instance(), ZMQInteractiveShell.instance()
    app.connection_file = connection_file
    done = BaseIPythonApplication.initialize
    BaseIPythonApplication.initialize = lambda self, argv=None: None  # options, profile: done
    try:
        app.initialize([])  # sockets, threads, the kernel (which finds the shell made)
    finally:
        BaseIPythonApplication.initialize = done
    if app.kernel.shell is not shell:
        raise RuntimeError("ipykernel made another shell than the one prepared")
    shell.parent = shell.kernel = app.kernel  # what the kernel would have given the shell it made
    return app


def _run_kernel(connection_file, args):
    from ipykernel.kernelapp import IPKernelApp

    if _prepared_for == tuple(args):
        app = _start_prepared(connection_file)
    else:
        _forget_prepared()  # made for other options
        app = IPKernelApp.instance()
        app.initialize(["-f", connection_file] + list(args))  # the grader's KERNEL_ARGS (launch.py)
    app.start()


def _wait_for(pid):
    while True:
        try:
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def _spawn(request, server, control_dir, sandboxed, disk_bytes):
    """Fork the kernel's init: the kernel's parent, which reaps every process of the submission
    and ends with the kernel. Sandboxed, the init is made by ``_clone`` in new namespaces, as PID
    1 of its own PID namespace (so the kernel is an ordinary process that can be killed from
    inside, like a cold kernel, and everything it starts dies with the init). The init is made
    in its namespaces at once, not by a forked process that unshares and then forks it (that
    only where ``_clone`` is not available): a fork of a process this size costs about 25 ms of
    CPU (its page tables copied, then freed), and a kernel now takes two, not three."""
    ids = os.getuid(), os.getgid()
    cloned = sandboxed and _SYS_CLONE is not None
    pid = _clone(NAMESPACES) if cloned else os.fork()
    if pid:
        return pid
    try:
        server.close()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if cloned:
            _enter(control_dir, disk_bytes, *ids)
        elif sandboxed:  # unshare, then one more fork: the init is the first process in the namespace
            _isolate(control_dir, disk_bytes)
            init = os.fork()
            if init:
                signal.signal(signal.SIGTERM, lambda *a: os.kill(init, signal.SIGKILL))
                os._exit(_wait_for(init) & 0xFF)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _init(request)
    except BaseException as e:
        sys.stderr.write("zygote: kernel start failed: %s\n" % e)
    os._exit(70)


def _init(request):
    """Fork the kernel, then reap everything until the kernel is gone; end with its exit code.
    A SIGTERM (from the grader, through the zygote) kills the kernel."""
    kernel = os.fork()
    if kernel == 0:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.chdir(request.get("cwd") or "/work")
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            _run_kernel(request["connection_file"], request.get("args", ()))
        finally:
            os._exit(0)
    signal.signal(signal.SIGTERM, lambda *a: os.kill(kernel, signal.SIGKILL))
    code = 0
    while True:  # reap everything; leave when the kernel is gone
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid == kernel:
            code = os.waitstatus_to_exitcode(status)
            break
    os._exit(code & 0xFF)


def serve(control_dir, sandboxed, disk_bytes):
    preload(control_dir)
    path = os.path.join(control_dir, "zygote.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    exits = {}
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            try:
                req = json.loads(data)
                reply = _handle(req, exits, server, control_dir, sandboxed, disk_bytes)
            except Exception as e:  # a bad request is answered, never fatal
                reply = {"error": "%s: %s" % (type(e).__name__, e)}
            conn.sendall((json.dumps(reply) + "\n").encode())


def _handle(req, exits, server, control_dir, sandboxed, disk_bytes):
    op = req.get("op")
    if op == "spawn":
        _prepare(req.get("args", ()))
        return {"pid": _spawn(req, server, control_dir, sandboxed, disk_bytes)}
    if op == "poll":
        pid = int(req["pid"])
        if pid not in exits:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                exits[pid] = os.waitstatus_to_exitcode(status)
        return {"status": exits.get(pid)}
    if op == "signal":
        try:
            os.kill(int(req["pid"]), int(req["sig"]))
        except ProcessLookupError:
            pass
        return {"ok": True}
    raise ValueError("unknown op %r" % op)


if __name__ == "__main__":
    KEEP_IN_TMP[:] = sys.argv[4:]
    serve(sys.argv[1], sys.argv[2] == "sandboxed", int(sys.argv[3]))
